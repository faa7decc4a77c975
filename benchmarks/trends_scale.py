"""How long does `extractor trends` take on 10,000 cards, and how much memory? Target:
clustering in under 60 s on this machine.

The corpus is the planted one of the trend tests (`tests/trends_synthetic.py`: 8 steady
topics all year, 3 new ones in the last quarter), scaled to about 10,000 cards of 4 to 6
signal rows each. In one process:

1. embedding: every row through MiniLM (`read_corpus`), timed on its own;
2. clustering: `cluster_rows` on those vectors (MiniBatchKMeans summary, average linkage),
   with tracemalloc's peak of what it allocated;
3. the rest of `trends()` (reading the file twice, centroids, STEEP, emergence), with the
   embeddings served from memory;
4. quality: the adjusted Rand index of the trends against the planted topics, and whether
   the three new topics are the three most emerging trends;
5. for the README's choice of algorithm: scikit-learn's HDBSCAN on the first 5,000 and
   10,000 rows of the same vectors.

Peak RSS is the process's, from getrusage, after each phase.

    python benchmarks/trends_scale.py [SCALE]     # SCALE 29: about 10,000 cards
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))  # `tests.trends_synthetic`

from sklearn.cluster import HDBSCAN  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from extractor.backends.embeddings import Vectors, minilm  # noqa: E402
from extractor.trends import trends  # noqa: E402
from extractor.trends.clustering import cluster_rows  # noqa: E402
from extractor.trends.corpus import Selection, read_corpus, row_text  # noqa: E402
from tests.trends_synthetic import EMERGING, write_results  # noqa: E402


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Served:
    """The vectors already computed, served by text: phase 3 measures everything but MiniLM."""

    name = "all-MiniLM-L6-v2-int8"

    def __init__(self, texts: dict[str, Vectors]) -> None:
        self._texts = texts

    def embed(self, texts: Sequence[str]) -> Vectors:
        missing = [t for t in texts if t not in self._texts]
        if missing:
            self._texts.update(zip(missing, minilm().embed(missing), strict=True))
        return np.stack([self._texts[t] for t in texts])


def main() -> None:
    scale = int(sys.argv[1]) if len(sys.argv) > 1 else 29
    with tempfile.TemporaryDirectory() as folder:
        results = Path(folder) / "results.jsonl"
        planted = write_results(results, scale=scale, rows_per_card=(4, 6))
        size = results.stat().st_size / 1e6
        print(f"corpus: {planted.cards} cards, {planted.rows} rows, {size:.1f} MB of JSONL")
        minilm().embed(["warm-up"])
        print(f"MiniLM loaded; peak RSS {_rss_mb():.0f} MB")

        started = time.perf_counter()
        corpus = read_corpus([results], minilm())
        embed_s = time.perf_counter() - started
        rows = len(corpus.signals)
        print(
            f"1. embedding: {embed_s:.1f} s for {rows} rows ({rows / embed_s:.0f} rows/s); "
            f"vectors {corpus.vectors.nbytes / 1e6:.0f} MB; peak RSS {_rss_mb():.0f} MB"
        )

        tracemalloc.start()
        started = time.perf_counter()
        labels = cluster_rows(corpus.vectors)
        cluster_s = time.perf_counter() - started
        _, traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"2. clustering: {cluster_s:.1f} s, {len(set(labels.tolist()))} clusters; "
            f"allocated at most {traced / 1e6:.0f} MB while clustering; "
            f"peak RSS {_rss_mb():.0f} MB"
        )

        topics = [planted.topics[corpus.cards[c].id] for c in corpus.row_card.tolist()]
        ari = adjusted_rand_score(topics, labels)

        texts = [row_text(row) for r in Selection([results]).records() for row in r.card.signals]
        served = _Served(dict(zip(texts, corpus.vectors, strict=True)))
        started = time.perf_counter()
        report = trends(results, embedder=served, labels="central")
        whole_s = time.perf_counter() - started
        top = {
            max(
                ((t, sum(planted.topics[m.id] == t for m in trend.members)) for t in set(topics)),
                key=lambda pair: pair[1],
            )[0]
            for trend in report.trends[: len(EMERGING)]
        }
        print(
            f"3. trends() without MiniLM: {whole_s:.1f} s (clustering included); "
            f"{len(report.trends)} trends; peak RSS {_rss_mb():.0f} MB (the served vectors "
            "held twice)"
        )
        print(
            f"4. quality: adjusted Rand index {ari:.3f} against the planted topics; the 3 most "
            f"emerging trends are the new topics: {top == {t.name for t in EMERGING}}"
        )
        for count in (5000, 10000):
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                HDBSCAN(min_cluster_size=5).fit_predict(corpus.vectors[:count])
            print(f"5. HDBSCAN on {count} rows: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
