"""Chunking stage: a long document cut into sentence-aligned parts that each fit the model's
budget, consecutive parts sharing a little overlap so a signal told across a cut is read
whole at least once. Offsets are the document's, so evidence found in a part maps back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from extractor.pipeline.ground import sentences

# Sentences repeated at the start of the next part: context across the cut, at most this
# share of the budget.
OVERLAP_SHARE = 0.05


@dataclass(frozen=True)
class Chunk:
    """One part: `text` is `document[start:end]`."""

    index: int
    start: int
    end: int
    text: str
    tokens: int


def split(
    text: str, budget: int, count: Callable[[str], int], overlap: float = OVERLAP_SHARE
) -> list[Chunk]:
    """Parts of at most `budget` tokens (as `count` counts), cut at sentence ends; a sentence
    longer than the budget is cut at word ends."""
    if count(text) <= budget:
        return [Chunk(0, 0, len(text), text, count(text))]
    spans = [piece for span in sentences(text) for piece in _fitting(text, span, budget, count)]
    costs = [count(text[a:b]) + 1 for a, b in spans]
    chunks: list[Chunk] = []
    first = 0
    while first < len(spans):
        last, total = first, 0
        while last < len(spans) and total + costs[last] <= budget:
            total += costs[last]
            last += 1
        last = max(last, first + 1)
        start, end = spans[first][0], spans[last - 1][1]
        chunks.append(Chunk(len(chunks), start, end, text[start:end], count(text[start:end])))
        if last >= len(spans):
            break
        back, room = last - 1, overlap * budget  # one sentence at least, then what fits
        while back > first + 1 and room - costs[back - 1] >= 0:
            room -= costs[back - 1]
            back -= 1
        first = max(back, first + 1)
    return chunks


def _fitting(
    text: str, span: tuple[int, int], budget: int, count: Callable[[str], int]
) -> list[tuple[int, int]]:
    start, end = span
    if count(text[start:end]) <= budget:
        return [span]
    pieces: list[tuple[int, int]] = []
    words = text[start:end].split(" ")
    step = max(1, len(words) * budget // max(count(text[start:end]), 1) // 2)
    position = start
    for first in range(0, len(words), step):
        piece = " ".join(words[first : first + step])
        pieces.append((position, position + len(piece)))
        position += len(piece) + 1
    return pieces
