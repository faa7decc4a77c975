"""A newsletter issue from a results file: one seed-format card per article, its source
clause naming the issue exactly as the seed does (`from ([20241124](https://...).)`), its
Closest section filled, and an index.md that groups the cards by theme and by trend.

Articles are the ones `trends` reads (an article's last line; `duplicate_of` copies left out,
since a newsletter would print the same card twice). A card keeps the Closest list the
results hold (`extractor batch` links one by default); a card without one gets up to `k`
cards of the same issue, linked by `extractor.batch.closest` as a batch run links them.
Without an issue URL the source clause links to the issue's own index.md beside the cards:
the seed format's clause is a link, and that is where the issue is.

The results file is read a few times, never held: the cards' vectors and a few strings per
card stay in memory, and each card is rendered and written on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from extractor.backends.embeddings import Embedder, Vectors
from extractor.batch.closest import DEFAULT_FLOOR, DEFAULT_K, card_text, pick_closest
from extractor.batch.export import card_filename
from extractor.core.card import Related, SignalCard, Source
from extractor.core.errors import CardFormatError, InputError
from extractor.core.record import ResultRecord
from extractor.core.text import fold, has_words
from extractor.store.files import atomic_write
from extractor.trends.clustering import DEFAULT_SIMILARITY
from extractor.trends.corpus import LeftOut, Selection
from extractor.trends.markdown import inline, link_text
from extractor.trends.run import DEFAULT_LLM_LABELS, TrendReport, default_embedder, trends

INDEX = "index.md"
_EMBED_BATCH = 256


@dataclass(frozen=True)
class DigestSummary:
    folder: Path
    cards: int
    linked: int  # cards whose Closest list the digest filled
    kept_closest: int  # cards that kept the Closest list of the results
    themes: int
    trends: int
    left_out: LeftOut


@dataclass(frozen=True)
class _Entry:
    id: str
    title: str
    reference: str
    file: str
    themes: list[str]
    has_closest: bool


def write_digest(
    results: Path,
    out: Path,
    issue: str,
    issue_url: str | None = None,
    *,
    embedder: Embedder | None = None,
    labels: str = "auto",
    model: str | None = None,
    base_url: str | None = None,
    similarity: float = DEFAULT_SIMILARITY,
    llm_labels: int = DEFAULT_LLM_LABELS,
    k: int = DEFAULT_K,
    floor: float = DEFAULT_FLOOR,
) -> DigestSummary:
    """Write the issue's cards and index.md into `out` (see the module docstring)."""
    if "\n" in issue or "\r" in issue or not has_words(issue):
        raise InputError(f"the issue label {issue!r} must be one line of text")
    if k < 0:
        raise InputError(f"k must not be negative, got {k}")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    source = Source(label=issue.strip(), url=issue_url.strip() if issue_url else INDEX)
    selection = Selection([results])
    entries = _entries(selection.records())
    _check_source(source, next(selection.records()).card)
    embedder = embedder or default_embedder()
    report = trends(
        [results],
        similarity=similarity,
        embedder=embedder,
        labels=labels,
        model=model,
        base_url=base_url,
        llm_labels=llm_labels,
    )
    closest = _closest(selection, entries, embedder, k, floor)
    out.mkdir(parents=True, exist_ok=True)
    for number, record in enumerate(selection.records()):
        entry = entries[number]
        card = record.card.model_copy(update={"source": source})
        if not entry.has_closest:
            card = card.model_copy(update={"closest": closest.get(number, [])})
        _write(out / entry.file, card.to_markdown())
    themes = _by_theme(entries)
    _write(out / INDEX, _index(source, issue_url is not None, entries, themes, report))
    return DigestSummary(
        folder=out,
        cards=len(entries),
        linked=sum(1 for links in closest.values() if links),
        kept_closest=sum(e.has_closest for e in entries),
        themes=len(themes),
        trends=len(report.trends),
        left_out=selection.left_out,
    )


def _check_source(source: Source, card: SignalCard) -> None:
    """The issue must read back from the seed format's clause as it was given."""
    text = card.model_copy(update={"source": source}).to_markdown()
    try:
        same = SignalCard.from_markdown(text).source == source
    except CardFormatError:
        same = False
    if not same:
        raise InputError(
            f"the issue URL {source.url!r} cannot be written in the seed format "
            "(no spaces, parentheses only in balanced pairs)"
        )


def _entries(records: Iterator[ResultRecord]) -> list[_Entry]:
    entries: list[_Entry] = []
    names: set[str] = set()
    for record in records:
        name = card_filename(record.id)
        if name in names:  # one id for two articles (two runs): keep both cards
            name = card_filename(f"{record.id} {record.reference}")
        names.add(name)
        entries.append(
            _Entry(
                id=record.id,
                title=record.card.title,
                reference=record.reference,
                file=name,
                themes=list(record.card.themes),
                has_closest=bool(record.card.closest),
            )
        )
    if not entries:
        raise InputError("the results hold no card to put in an issue")
    return entries


def _closest(
    selection: Selection, entries: list[_Entry], embedder: Embedder, k: int, floor: float
) -> dict[int, list[Related]]:
    """Closest lists for the cards that have none, among the issue's cards."""
    if all(entry.has_closest for entry in entries) or k == 0:
        return {}
    count = len(entries)
    vectors = _vectors(selection, embedder, count)
    picks = pick_closest(vectors, np.arange(count, dtype=np.int64), count, k, floor)
    return {
        number: [
            Related(title=entries[j].title, reference=entries[j].reference) for j in row if j >= 0
        ]
        for number, row in enumerate(picks.tolist())
        if not entries[number].has_closest
    }


def _vectors(selection: Selection, embedder: Embedder, count: int) -> Vectors:
    vectors = np.zeros((0, 0), dtype=np.float32)
    pending: list[str] = []
    filled = 0

    def flush() -> None:
        nonlocal vectors, filled
        batch = np.asarray(embedder.embed(pending), dtype=np.float32)
        if vectors.size == 0:
            vectors = np.zeros((count, batch.shape[1]), dtype=np.float32)
        norms = np.linalg.norm(batch, axis=1, keepdims=True)
        vectors[filled : filled + len(pending)] = batch / np.maximum(norms, 1e-12)
        filled += len(pending)
        pending.clear()

    for record in selection.records():
        pending.append(card_text(record.card.title, record.card.summary))
        if len(pending) >= _EMBED_BATCH:
            flush()
    if pending:
        flush()
    return vectors


def _by_theme(entries: list[_Entry]) -> list[tuple[str, list[int]]]:
    """(theme, card numbers), themes spelled as they first appear, biggest first."""
    groups: dict[str, tuple[str, list[int]]] = {}
    for number, entry in enumerate(entries):
        for theme in dict.fromkeys(entry.themes):
            groups.setdefault(fold(theme), (theme, []))[1].append(number)
    return sorted(groups.values(), key=lambda group: (-len(group[1]), fold(group[0])))


def _index(
    source: Source,
    has_url: bool,
    entries: list[_Entry],
    themes: list[tuple[str, list[int]]],
    report: TrendReport,
) -> str:
    def item(number: int) -> str:
        entry = entries[number]
        return f"* [{link_text(entry.title)}]({entry.file})"

    head = f"[{link_text(source.label)}]({source.url})" if has_url else inline(source.label)
    lines = [f"# {inline(source.label)}", "", f"{len(entries)} cards from {head}.", ""]
    lines += ["## By theme", ""]
    for theme, numbers in themes:
        lines += [f"### {inline(theme)}", "", *(item(n) for n in numbers), ""]
    lines += ["## By trend", ""]
    placed: set[int] = set()
    for rank, trend in enumerate(report.trends, start=1):
        lines += [
            f"### {rank}. {inline(trend.label)}",
            "",
            f"{trend.steep}, {trend.status}, {trend.direction}, emergence {trend.emergence:+.2f}",
            "",
            *(item(n) for n in trend.cards),
            "",
        ]
        placed.update(trend.cards)
    alone = [n for n in range(len(entries)) if n not in placed]
    if alone:
        lines += ["### In no trend", "", *(item(n) for n in alone), ""]
    return "\n".join(lines)


def _write(path: Path, text: str) -> None:
    with atomic_write(path) as handle:
        handle.write(text.encode("utf-8"))
