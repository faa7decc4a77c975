"""How long do Closest links take for 10,000 cards, once the cards were embedded during the
run? Target: linked in under 15 s after the last article, with memory flat.

In one process, on a results file of N cards (default 10,000; titles and 60-word summaries
of random words from `examples/` and `seeds/`, seeded):

1. during the run: every card handed to `BackgroundEmbeddings` (MiniLM on its worker
   thread), as `extractor batch` does when it writes a card; timed until `finish()`, which
   gives the embedding throughput the run has to keep up with;
2. after the run: `link_closest` with those vectors (`known`), which only reads the file,
   compares the cards a block at a time and rewrites the file: what the run adds after its
   last article;
3. for comparison, `link_closest` without them on the first `--compare` cards (it embeds
   every card itself, as the pass did before).

Peak RSS (getrusage) is printed after each phase.

    python benchmarks/closest_scale.py [--cards N] [--compare N]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import tempfile
import time
from pathlib import Path

from batch_common import vocabulary

from extractor.backends.embeddings import minilm
from extractor.batch.closest import BackgroundEmbeddings, link_closest
from extractor.core.record import reference


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cards(count: int) -> list[tuple[str, str]]:
    rng, vocab = random.Random(5), vocabulary()
    return [
        (
            f"Report {n}: " + " ".join(rng.choices(vocab, k=6)).title(),
            " ".join(rng.choices(vocab, k=60)).capitalize() + ".",
        )
        for n in range(count)
    ]


def write(path: Path, rows: list[tuple[str, str]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for n, (title, summary) in enumerate(rows):
            card = {
                "title": title, "summary": summary, "keywords": [], "themes": [],
                "signals": [], "link": None, "source": None, "closest": [],
            }  # fmt: skip
            line = {"id": f"a{n:05d}", "key": f"{n:064x}", "reference": reference(None, summary)}
            out.write(json.dumps({**line, "source": "bench", "card": card}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=10_000)
    parser.add_argument("--compare", type=int, default=1_000)
    args = parser.parse_args()
    rows = cards(args.cards)
    embedder = minilm()
    print(f"{args.cards} cards; model loaded, peak {peak_mb():.0f} MB")
    with tempfile.TemporaryDirectory(prefix="closest-bench-") as name:
        folder = Path(name)
        results = folder / "results.jsonl"
        write(results, rows)

        started = time.perf_counter()
        background = BackgroundEmbeddings(lambda: embedder)
        for title, summary in rows:
            background.add(title, summary)
        known = background.finish()
        embedding = time.perf_counter() - started
        print(
            f"1. embedded during the run: {embedding:.1f} s, "
            f"{args.cards / embedding:.0f} cards/s; peak {peak_mb():.0f} MB"
        )

        started = time.perf_counter()
        summary = link_closest(results, embedder, known=known)
        linking = time.perf_counter() - started
        print(
            f"2. linked after the run: {linking:.2f} s for {summary.cards} cards "
            f"({summary.links} links); peak {peak_mb():.0f} MB"
        )

        small = folder / "small.jsonl"
        write(small, rows[: args.compare])
        started = time.perf_counter()
        link_closest(small, embedder)
        whole = time.perf_counter() - started
        print(
            f"3. without vectors from the run: {whole:.2f} s for {args.compare} cards "
            f"({whole / args.compare * args.cards:.0f} s scaled to {args.cards})"
        )


if __name__ == "__main__":
    main()
