"""The signal rows of one or many results files, as vectors, read without holding the cards.

Two streaming passes over the files. The first decides which line stands for each article:
the article's last valid line across the files in the order given (a rerun or a later file
replaces an earlier card, as in `extractor export`), never a `duplicate_of` copy (the same
story from another outlet carries the first one's card, so counting it would count one card
twice), and none dated before `since`. The second pass embeds the kept rows, a batch at a
time, into one preallocated float32 array. What stays in memory is that array (1.5 KB a row
with MiniLM), each row's signal text and card number, and a few strings per card (id, title,
URL, date); never a card.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from extractor.backends.embeddings import Embedder, Vectors
from extractor.core.card import SignalRow
from extractor.core.errors import InputError
from extractor.core.record import ResultRecord
from extractor.store.results import read_results
from extractor.trends.periods import parse_day

_EMBED_BATCH = 512

Ints = np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True)
class CardInfo:
    """What a trend report shows of a card: enough to name and link it."""

    id: str
    title: str
    url: str | None
    day: date | None
    reference: str


@dataclass
class LeftOut:
    """Lines of the results files that stand for no article of the corpus, and why."""

    replaced: int = 0  # superseded by a later line of the same article
    copies: int = 0  # duplicate_of copies
    before_since: int = 0  # articles dated before `since`


@dataclass
class Corpus:
    cards: list[CardInfo]
    signals: list[str]  # each row's signal cell
    row_card: Ints  # each row's card number
    vectors: Vectors  # each row's unit vector
    left_out: LeftOut


def row_text(row: SignalRow) -> str:
    """What a row is embedded as: the signal and the change it names, which together say
    what develops; the horizon and driving force are speculation and broad causes that would
    join unrelated developments."""
    return f"{row.signal.rstrip('. ')}. {row.change}"


def check_files(paths: Sequence[Path]) -> None:
    if not paths:
        raise InputError("no results file given")
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: no such file")
        if not path.is_file():
            raise InputError(f"{path}: not a file")


class Selection:
    """Which line stands for each article (see the module docstring): the first pass over
    the files, which also counts the rows to embed and the lines left out."""

    def __init__(self, paths: Sequence[Path], since: date | None = None) -> None:
        check_files(paths)
        self.paths = paths
        self.left_out = LeftOut()
        latest: dict[str, tuple[tuple[int, int], int, bool]] = {}  # reference -> line, rows, old
        for where, record in _records(paths):
            if record.duplicate_of:
                self.left_out.copies += 1
                continue
            if record.reference in latest:
                self.left_out.replaced += 1
            day = parse_day(record.article.date)
            old = since is not None and day is not None and day < since
            latest[record.reference] = (where, len(record.card.signals), old)
        self.left_out.before_since = sum(old for _, _, old in latest.values())
        self._keep = {where for where, _, old in latest.values() if not old}
        self.rows = sum(rows for _, rows, old in latest.values() if not old)

    def records(self) -> Iterator[ResultRecord]:
        """The kept lines, in file order."""
        for where, record in _records(self.paths):
            if where in self._keep:
                yield record


def _records(paths: Sequence[Path]) -> Iterator[tuple[tuple[int, int], ResultRecord]]:
    for file_number, path in enumerate(paths):
        try:
            for number, record in enumerate(read_results(path)):
                yield (file_number, number), record
        except OSError as err:
            raise InputError(f"{path}: cannot read ({err.strerror or err})") from None


def read_corpus(
    paths: Sequence[Path],
    embedder: Embedder,
    *,
    since: date | None = None,
    progress: Callable[[int], None] | None = None,
) -> Corpus:
    """Every kept row embedded; `progress` is told how many rows each batch embedded."""
    selection = Selection(paths, since)
    total = selection.rows
    empty = np.zeros((0, 0), dtype=np.float32)
    corpus = Corpus([], [], np.zeros(total, dtype=np.int64), empty, selection.left_out)
    vectors: Vectors | None = None
    pending: list[str] = []
    filled = 0

    def flush() -> None:
        nonlocal vectors, filled
        if not pending:
            return
        batch = np.asarray(embedder.embed(pending), dtype=np.float32)
        if batch.ndim != 2 or batch.shape[0] != len(pending):
            raise ValueError(f"embedder {embedder.name} returned {batch.shape} for {len(pending)}")
        if vectors is None:
            vectors = np.zeros((total, batch.shape[1]), dtype=np.float32)
        norms = np.linalg.norm(batch, axis=1, keepdims=True)
        vectors[filled : filled + len(pending)] = batch / np.maximum(norms, 1e-12)
        filled += len(pending)
        if progress is not None:
            progress(len(pending))
        pending.clear()

    for record in selection.records():
        if len(corpus.signals) + len(record.card.signals) > total:
            raise InputError(f"{', '.join(map(str, paths))} changed while being read")
        number = len(corpus.cards)
        corpus.cards.append(
            CardInfo(
                id=record.id,
                title=record.card.title,
                url=record.article.url or record.card.link,
                day=parse_day(record.article.date),
                reference=record.reference,
            )
        )
        for row in record.card.signals:
            corpus.row_card[len(corpus.signals)] = number
            corpus.signals.append(row.signal)
            pending.append(row_text(row))
            if len(pending) >= _EMBED_BATCH:
                flush()
    flush()
    if len(corpus.signals) != total:
        raise InputError(f"{', '.join(map(str, paths))} changed while being read")
    corpus.vectors = vectors if vectors is not None else empty
    return corpus
