"""Merge stage: the cards of a long document's parts made into one card.

Signal rows that say the same thing (by meaning, with an embedder such as MiniLM; by words
otherwise) become one row that keeps the first wording and every part's evidence; rows are
ranked by how many parts support them, then by how much grounded evidence they have.
Keywords and themes are ranked by how many parts name them. Evidence offsets are shifted
from the part's text to the document's."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rapidfuzz import fuzz

from extractor.backends.embeddings import Vectors
from extractor.core.card import CardLimits, Evidence, SignalCard, SignalRow
from extractor.core.text import fold
from extractor.pipeline.chunking import Chunk

# Same-signal thresholds: MiniLM cosine, and rapidfuzz token-set ratio without an embedder.
SEMANTIC_SAME = 0.8
LEXICAL_SAME = 85.0


class Embedder(Protocol):
    def embed(self, texts: Sequence[str]) -> Vectors: ...


@dataclass
class _Group:
    row: SignalRow
    parts: set[int] = field(default_factory=set)
    evidence: list[Evidence] = field(default_factory=list)
    first: int = 0

    @property
    def grounded(self) -> int:
        return sum(span.match != "none" for span in self.evidence)


def document_limits(limits: CardLimits, parts: int) -> CardLimits:
    """Room for more items as a report grows: upper bounds times the square root of the
    number of parts, capped (30 keywords, 10 themes, 24 signals)."""
    scale = max(parts, 1) ** 0.5

    def grown(bounds: tuple[int, int | None], cap: int) -> tuple[int, int | None]:
        low, high = bounds
        return low, None if high is None else max(high, min(round(high * scale), cap))

    return CardLimits(
        keywords=grown(limits.keywords, 30),
        themes=grown(limits.themes, 10),
        signals=grown(limits.signals, 24),
    )


def shifted(row: SignalRow, chunk: Chunk) -> list[Evidence]:
    return [
        span
        if span.start is None or span.end is None
        else span.model_copy(
            update={"start": span.start + chunk.start, "end": span.end + chunk.start}
        )
        for span in row.evidence
    ]


def merge_rows(
    parts: Sequence[tuple[Chunk, SignalCard]], limit: int | None, embedder: Embedder | None
) -> list[SignalRow]:
    rows = [(chunk, row) for chunk, card in parts for row in card.signals]
    if not rows:
        return []
    texts = [f"{row.signal}. {row.change}" for _, row in rows]
    vectors = embedder.embed(texts) if embedder is not None else None
    groups: list[_Group] = []
    members: list[int] = []  # the row index that stands for each group
    for index, (chunk, row) in enumerate(rows):
        found = None
        for number, head in enumerate(members):
            if vectors is not None:
                same = float(vectors[index] @ vectors[head]) >= SEMANTIC_SAME
            else:
                same = fuzz.token_set_ratio(fold(texts[index]), fold(texts[head])) >= LEXICAL_SAME
            if same:
                found = groups[number]
                break
        if found is None:
            found = _Group(row=row, first=index)
            groups.append(found)
            members.append(index)
        found.parts.add(chunk.index)
        for span in shifted(row, chunk):
            if all((span.start, span.end) != (s.start, s.end) for s in found.evidence):
                found.evidence.append(span)
    groups.sort(key=lambda g: (-len(g.parts), -g.grounded, g.first))
    kept = groups if limit is None else groups[:limit]
    return [g.row.model_copy(update={"evidence": g.evidence}) for g in kept]


def merge_items(lists: Sequence[Sequence[str]], limit: int | None) -> list[str]:
    """Items ranked by how many parts name them (folded), first spelling and order kept."""
    counts: Counter[str] = Counter()
    spelling: dict[str, str] = {}
    for items in lists:
        for item in dict.fromkeys(items):
            key = fold(item)
            counts[key] += 1
            spelling.setdefault(key, item)
    order = {key: number for number, key in enumerate(spelling)}
    ranked = sorted(spelling, key=lambda key: (-counts[key], order[key]))
    return [spelling[key] for key in (ranked if limit is None else ranked[:limit])]
