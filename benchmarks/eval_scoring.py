"""How long does scoring take once the embedding model is loaded? Target: 100 card pairs in
under 10 s on this machine.

Pairs are every ordered pair of gold cards (plus each card against a copy missing a row),
scored with a fresh scorer per round so that no embedding is reused from an earlier round;
within a round, strings shared by several pairs are embedded once, as in a real eval run.
The lexical scorer runs on the same pairs in the same process for the ratio.

    python benchmarks/eval_scoring.py [ROUNDS]
"""

from __future__ import annotations

import itertools
import statistics
import sys
import time
from pathlib import Path

from extractor.backends.embeddings import MiniLM
from extractor.core.card import SignalCard
from extractor.evaluate.metrics import score_card
from extractor.evaluate.similarity import EmbeddingSimilarity, LexicalSimilarity, Similarity

ROOT = Path(__file__).resolve().parent.parent
PAIRS = 100


def _pairs() -> list[tuple[SignalCard, SignalCard]]:
    cards = [SignalCard.from_markdown(p.read_text()) for p in sorted((ROOT / "seeds").glob("*"))]
    dropped = [(c.model_copy(update={"signals": c.signals[1:]}), c) for c in cards]
    swapped = list(itertools.permutations(cards, 2))
    return (dropped + swapped)[:PAIRS]


def _round(similarity: Similarity, pairs: list[tuple[SignalCard, SignalCard]]) -> float:
    started = time.perf_counter()
    for pred, gold in pairs:
        score_card(pred, gold, similarity)
    return time.perf_counter() - started


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    pairs = _pairs()
    started = time.perf_counter()
    model = MiniLM()
    load = time.perf_counter() - started
    model.embed(["warm-up"])
    semantic: list[float] = []
    lexical: list[float] = []
    for number in range(rounds):
        # Alternate the order so that machine noise hits both scorers alike.
        if number % 2:
            lexical.append(_round(LexicalSimilarity(), pairs))
            semantic.append(_round(EmbeddingSimilarity(model), pairs))
        else:
            semantic.append(_round(EmbeddingSimilarity(model), pairs))
            lexical.append(_round(LexicalSimilarity(), pairs))
    print(f"pairs per round: {len(pairs)}, rounds: {rounds}")
    print(f"MiniLM load (sha256 check, session, tokenizer): {load:.2f} s")
    print(
        f"MiniLM:  median {statistics.median(semantic):.2f} s per {len(pairs)} pairs "
        f"(min {min(semantic):.2f}, max {max(semantic):.2f})"
    )
    print(
        f"lexical: median {statistics.median(lexical):.3f} s per {len(pairs)} pairs "
        f"(min {min(lexical):.3f}, max {max(lexical):.3f})"
    )
    print(f"ratio MiniLM / lexical: {statistics.median(semantic) / statistics.median(lexical):.1f}")
    print(f"target: under 10 s -> {'met' if max(semantic) < 10 else 'MISSED'}")


if __name__ == "__main__":
    main()
