"""Grounding: how fast, and where the fuzzy thresholds come from.

1. Calibration. Positives: sentences of the 16 gold articles with one word dropped, one word
   replaced, and case and quote marks changed, aligned against their own article. Negatives:
   sentences of the other gold articles, aligned against this one. For both, the best
   rapidfuzz partial alignment's score and the share of the quote's words in the window.
2. Speed: 1,000 cards of 5 rows each (3 verbatim quotes, 1 with a word changed, 1 invented)
   aligned against their articles, names checked too, timed as a whole.

    python benchmarks/grounding.py
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path

from rapidfuzz import fuzz

from extractor.core.card import SignalCard
from extractor.pipeline.ground import Aligner, coverage, fold, ground_card, sentences

ROOT = Path(__file__).resolve().parent.parent
ARTICLES = sorted((ROOT / "evals" / "articles").glob("*.txt"))
SEEDS = {p.stem.split("_")[0]: p for p in (ROOT / "seeds").glob("*.txt")}


def _sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in sentences(text) if len(text[a:b].split()) >= 8]


def _perturbed(sentence: str, rng: random.Random) -> str:
    words = sentence.split()
    del words[rng.randrange(len(words))]
    words[rng.randrange(len(words))] = rng.choice(["new", "major", "several", "local"])
    return " ".join(words).lower().replace("\u2019", "'").replace("\u201c", '"')


def _best(quote: str, text: str) -> tuple[float, float]:
    found = fuzz.partial_ratio_alignment(fold(quote), fold(text))
    if found is None:
        return 0.0, 0.0
    window = text[found.dest_start : found.dest_end]
    return found.score, coverage(quote, window)


def calibrate() -> None:
    rng = random.Random(1)
    texts = [p.read_text(encoding="utf-8") for p in ARTICLES]
    positives, negatives = [], []
    for index, text in enumerate(texts):
        for sentence in _sentences(text)[:6]:
            positives.append(_best(_perturbed(sentence, rng), text))
        others = [s for j, t in enumerate(texts) if j != index for s in _sentences(t)[:2]]
        for sentence in rng.sample(others, 6):
            negatives.append(_best(sentence, text))

    def describe(name: str, pairs: list[tuple[float, float]]) -> None:
        scores = sorted(p[0] for p in pairs)
        covers = sorted(p[1] for p in pairs)
        print(
            f"{name}: {len(pairs)} quotes; score min {scores[0]:.1f}, 5th pct "
            f"{scores[len(scores) // 20]:.1f}, median {statistics.median(scores):.1f}, "
            f"95th pct {scores[-len(scores) // 20 - 1]:.1f}, max {scores[-1]:.1f}; coverage "
            f"min {covers[0]:.2f}, median {statistics.median(covers):.2f}, max {covers[-1]:.2f}"
        )

    describe("positives (own article, perturbed)", positives)
    describe("negatives (another article's sentence)", negatives)
    for threshold in (70, 75, 80, 85):
        tp = sum(s >= threshold and c >= 0.75 for s, c in positives) / len(positives)
        fp = sum(s >= threshold and c >= 0.75 for s, c in negatives) / len(negatives)
        print(f"score >= {threshold} and coverage >= 0.75: TPR {tp:.3f}, FPR {fp:.3f}")


def speed(cards: int = 1000) -> None:
    rng = random.Random(2)
    pairs = []
    for path in ARTICLES:
        seed = SEEDS.get(path.stem.split("_")[0])
        if seed is not None:
            card = SignalCard.from_markdown(seed.read_text(encoding="utf-8"))
            pairs.append((path.read_text(encoding="utf-8"), card))
    work = []
    for number in range(cards):
        text, card = pairs[number % len(pairs)]
        quoted = _sentences(text)
        quotes = [*rng.sample(quoted, 3), _perturbed(rng.choice(quoted), rng)]
        quotes.append("The council will fund a new stadium for the national team next year.")
        work.append((text, card, quotes))
    cells = ["Villages adopt solar power", "Diesel to solar", "Rural grids", "Costs"]
    started = time.perf_counter()
    spans = 0
    for text, card, quotes in work:
        aligner = Aligner(text)
        for quote in quotes:
            spans += len(aligner.cite(quote, cells))
        ground_card(card, text)
    seconds = time.perf_counter() - started
    print(
        f"{cards} cards ({cards * 5} rows, {spans} spans) aligned and name-checked in "
        f"{seconds:.2f} s ({seconds / cards * 1000:.2f} ms per card); target < 2 s"
    )


if __name__ == "__main__":
    calibrate()
    speed()
