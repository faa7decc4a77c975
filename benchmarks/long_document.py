"""A 50,000-word report read whole: time, peak memory and quality.

The report is the gold articles of `evals/manifest.jsonl`, in order, cycled until it holds
50,000 words. With the embedded model (default) it is read part by part, merged, and the
card scored with the project's eval metrics (MiniLM similarity) against the union of the
gold cards of the articles it was made from, beside the card of the first part alone.
With `--fake` it goes to the loopback fake server instead (memory and plumbing only).

    python benchmarks/long_document.py [--fake] [--words 50000]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from extractor.backends.embeddings import minilm  # noqa: E402
from extractor.core.card import CardDraft, SignalCard  # noqa: E402
from extractor.core.record import ResultRecord  # noqa: E402
from extractor.evaluate.metrics import score_card  # noqa: E402
from extractor.evaluate.similarity import EmbeddingSimilarity  # noqa: E402
from extractor.pipeline.document import DocumentReader  # noqa: E402
from extractor.pipeline.extract import Extractor  # noqa: E402
from extractor.pipeline.load import article_from_text  # noqa: E402


def report(words: int) -> tuple[str, list[SignalCard]]:
    entries = [json.loads(line) for line in (ROOT / "evals" / "manifest.jsonl").open()]
    texts, golds, used = [], [], set()
    while sum(len(t.split()) for t in texts) < words:
        entry = entries[len(texts) % len(entries)]
        texts.append((ROOT / "evals" / entry["article"]).read_text(encoding="utf-8"))
        if entry["id"] not in used:
            used.add(entry["id"])
            gold = (ROOT / "evals" / entry["gold"]).resolve().read_text(encoding="utf-8")
            golds.append(SignalCard.from_markdown(gold))
    return "\n\n".join(texts), golds


def union(golds: list[SignalCard], count: int | None = None) -> CardDraft:
    cards = golds[:count] if count else golds
    return CardDraft.model_construct(
        title=cards[0].title,
        summary=" ".join(card.summary for card in cards),
        keywords=list(dict.fromkeys(k for card in cards for k in card.keywords)),
        themes=list(dict.fromkeys(t for card in cards for t in card.themes)),
        signals=[row for card in cards for row in card.signals],
    )


class _Parts:
    """An in-memory part cache: keeps each part's card so the first one can be scored."""

    def __init__(self) -> None:
        self.records: dict[str, ResultRecord] = {}

    def get(self, key: str) -> ResultRecord | None:
        return None

    def put(self, key: str, record: ResultRecord) -> None:
        self.records[record.id] = record


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fake", action="store_true")
    parser.add_argument("--words", type=int, default=50_000)
    args = parser.parse_args()
    text, golds = report(args.words)
    article = article_from_text(text, name="report")
    server = None
    if args.fake:
        from tests.fakeserver import FakeServer, card_json, reply

        server = FakeServer([reply(card_json())]).start()
        extractor = Extractor(base_url=server.base_url, api_key="sk-test", model="fake-model")
    else:
        extractor = Extractor()
    first: list[SignalCard] = []

    def progress(chunk, done, total, how) -> None:  # type: ignore[no-untyped-def]
        print(f"part {chunk.index + 1}/{total} {how} at {time.perf_counter() - t0:.0f} s",
              file=sys.stderr, flush=True)  # fmt: skip

    reader = DocumentReader(extractor, concurrency=1 if not args.fake else 4, embedder=minilm())
    plan = reader.plan(article)
    t0 = time.perf_counter()
    parts = _Parts()
    result = reader.read(article, cache=parts, progress=progress)
    seconds = time.perf_counter() - t0
    out = {
        "words": len(text.split()),
        "chars": len(text),
        "parts": len(plan.chunks),
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "requests": result.usage.requests,
        "prompt_tokens": result.usage.prompt_tokens,
        "completion_tokens": result.usage.completion_tokens,
        "rows": len(result.card.signals),
        "parts_without_card": [w for w in result.warnings if "gave no card" in w],
        "evidence_reach": max(
            (s.end for r in result.card.signals for s in r.evidence if s.end), default=0
        )
        / len(text),
    }
    if not args.fake:
        first.append(parts.records["part-0"].card)  # the first part's own card, as extracted
        similarity = EmbeddingSimilarity(minilm())
        gold = union(golds)
        out["score_whole"] = round(score_card(result.card, gold, similarity).aggregate, 4)
        out["score_first_part"] = round(score_card(first[0], gold, similarity).aggregate, 4)
    print(json.dumps(out, indent=2))
    extractor.close()
    if server is not None:
        server.stop()


if __name__ == "__main__":
    main()
