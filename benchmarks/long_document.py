"""A 50,000-word report read whole: time, peak memory and quality.

The report is the gold articles of `evals/manifest.jsonl`, in order, cycled until it holds
50,000 words. With the embedded model (default) it is read part by part, merged, and the
card scored with the project's eval metrics (MiniLM similarity) against the union of the
gold cards of the articles it was made from, beside the card of the first part alone.
With `--fake` it goes to the loopback fake server instead (memory and plumbing only).

    python benchmarks/long_document.py [--fake] [--words 50000] [--parts FILE] [--cards DIR]

`--parts FILE` keeps each part's card (a JSON lines file), so a rerun re-merges without
extracting again; `--cards DIR` writes the whole card and the first part's card as markdown.
Beside the score against the union of the gold cards, each card is scored against every gold
card of the report's articles and the scores averaged: a report's card is a card for each of
its articles, and the union's title and its summary (as MiniLM reads it, the first 256
tokens) are the first article's.
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
    """A part cache that keeps each part's card, so the first one can be scored, and with a
    file, so a rerun merges again without extracting again."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.records: dict[str, ResultRecord] = {}
        self.keys: dict[str, ResultRecord] = {}
        if path is not None and path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                key, record = json.loads(line)
                self.keys[key] = ResultRecord.model_validate(record)
                self.records[self.keys[key].id] = self.keys[key]

    def get(self, key: str) -> ResultRecord | None:
        return self.keys.get(key)

    def put(self, key: str, record: ResultRecord) -> None:
        self.records[record.id] = self.keys[key] = record
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps([key, record.model_dump(mode="json")]) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fake", action="store_true")
    parser.add_argument("--words", type=int, default=50_000)
    parser.add_argument("--parts", type=Path)
    parser.add_argument("--cards", type=Path)
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
    parts = _Parts(args.parts)
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
        for name, card in (("whole", result.card), ("first_part", first[0])):
            union_score = score_card(card, gold, similarity)
            out[f"score_{name}"] = round(union_score.aggregate, 4)
            out[f"fields_{name}"] = {k: round(v, 3) for k, v in union_score.fields.items()}
            each = [score_card(card, one, similarity).aggregate for one in golds]
            out[f"mean_per_gold_{name}"] = round(sum(each) / len(each), 4)
            if args.cards:
                args.cards.mkdir(parents=True, exist_ok=True)
                (args.cards / f"{name}.md").write_text(card.to_markdown(), encoding="utf-8")
    print(json.dumps(out, indent=2))
    extractor.close()
    if server is not None:
        server.stop()


if __name__ == "__main__":
    main()
