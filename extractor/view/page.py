"""`extractor view`: one self-contained HTML page (inline CSS and a few lines of inline
script, nothing fetched) with each card beside the article text it was made from.

Each signal row's evidence spans are `<mark>`s in the article, linked both ways: a row links
to its first span, a span to the rows it supports. Rows without support are marked. The page
is built from text by jinja2 with autoescaping, so nothing an article or a model wrote can
become markup: an article's `<script>` shows as those characters.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import ValidationError

from extractor.core.card import ANY_COUNT, SignalCard
from extractor.core.errors import InputError
from extractor.core.record import ResultRecord
from extractor.store.files import atomic_write
from extractor.store.results import read_results

_TEMPLATES = Path(__file__).parent / "templates"
_WEB = re.compile(r"^https?://", re.I)


@dataclass(frozen=True)
class Viewed:
    """One card to show: what it is, and the text its evidence offsets point into."""

    id: str
    card: SignalCard
    text: str
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Segment:
    text: str
    rows: tuple[int, ...] = ()  # 1-based numbers of the rows this piece is evidence for
    mark: int | None = None  # its number among the card's marks, for links to it
    supported: bool = True


def load(path: Path) -> list[Viewed]:
    """The cards of a results file (.jsonl) or of one `extractor extract --format json`."""
    if not path.is_file():
        raise InputError(f"{path}: {'not a file' if path.exists() else 'no such file'}")
    if path.suffix.lower() == ".jsonl":
        viewed = [Viewed(r.id, r.card, r.article.text, r.warnings) for r in read_results(path)]
        if not viewed:
            raise InputError(f"{path}: no results records in it")
        return viewed
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: not a JSON card ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("card"), dict):
        raise InputError(f"{path}: expected the JSON of `extractor extract --format json`")
    try:
        if "id" in data:
            record = ResultRecord.parse(data)
            return [Viewed(record.id, record.card, record.article.text, record.warnings)]
        card = SignalCard.model_validate(data["card"], context={"limits": ANY_COUNT})
    except ValidationError as err:
        raise InputError(f"{path}: not a valid card: {err.errors()[0]['msg']}") from None
    article = data.get("article")
    text = article.get("text") if isinstance(article, dict) else None
    warnings = [w for w in data.get("warnings") or [] if isinstance(w, str)]
    return [Viewed(path.stem, card, text if isinstance(text, str) else "", warnings)]


def segments(viewed: Viewed) -> list[Segment]:
    """The article cut at every evidence boundary; each piece knows which rows it supports.
    Offsets that do not fit the text (a card edited by hand) are left out."""
    text = viewed.text
    spans: list[tuple[int, int, int, bool]] = []
    for number, row in enumerate(viewed.card.signals, start=1):
        for span in row.evidence:
            if span.start is None or span.end is None:
                continue
            if 0 <= span.start < span.end <= len(text):
                spans.append((span.start, span.end, number, span.match != "none"))
    cuts = sorted({0, len(text), *(s for s, _, _, _ in spans), *(e for _, e, _, _ in spans)})
    pieces: list[Segment] = []
    marks = 0
    for start, end in itertools.pairwise(cuts):
        covering = [(n, ok) for s, e, n, ok in spans if s <= start and end <= e]
        if not covering:
            pieces.append(Segment(text[start:end]))
            continue
        marks += 1
        rows = tuple(sorted({n for n, _ in covering}))
        pieces.append(Segment(text[start:end], rows, marks, any(ok for _, ok in covering)))
    return pieces


def _first_marks(pieces: Iterable[Segment]) -> dict[int, int]:
    first: dict[int, int] = {}
    for piece in pieces:
        for row in piece.rows:
            if piece.mark is not None:
                first.setdefault(row, piece.mark)
    return first


def _context(items: list[Viewed]) -> Iterator[dict[str, Any]]:
    for number, viewed in enumerate(items, start=1):
        pieces = segments(viewed)
        first = _first_marks(pieces)
        rows = [
            {
                "number": index,
                "cells": row.cells(),
                "grounded": row.grounded,
                "cited": bool(row.evidence),
                "mark": first.get(index),
                "evidence": [{"match": span.match, "text": span.text} for span in row.evidence],
            }
            for index, row in enumerate(viewed.card.signals, start=1)
        ]
        link = viewed.card.link or ""
        yield {
            "number": number,
            "id": viewed.id,
            "card": viewed.card,
            # Only a web address becomes a link: a `javascript:` one would run when clicked.
            "link": link if _WEB.match(link) else None,
            "rows": rows,
            "segments": pieces,
            "warnings": viewed.warnings,
            "grounded": sum(r["grounded"] for r in rows),
        }


def render(items: list[Viewed]) -> str:
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("cards.html.j2").render(cards=list(_context(items)))


def write_view(source: Path, out: Path) -> int:
    """Write the page for `source` to `out`; returns how many cards it shows."""
    items = load(source)
    page = render(items)
    with atomic_write(out) as handle:
        handle.write(page.encode("utf-8"))
    return len(items)
