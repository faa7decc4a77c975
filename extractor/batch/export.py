"""Export a batch's results.jsonl as seed-format markdown files or as one CSV table.

Both exports stream the JSONL line by line (a batch can hold 100k lines), so memory grows
only with the number of distinct article ids, never with the file. Lines are sorted into:

* exported: a results record (`ResultRecord`) whose card validates;
* `skipped_invalid`: anything else: not UTF-8 JSON, not a record, a card that does not
  validate, a last line cut short by a crash (failed articles are in the errors file, not
  among the results);
* blank lines are ignored and not counted.

Duplicate ids (a resumed or re-run batch appends a new line for an article it already did):
the LAST line with a valid card wins in both exports, so the markdown folder and the CSV
always agree. A later failed or invalid line never erases an earlier good card.
`duplicates` counts the valid lines superseded this way. Markdown simply overwrites the
article's file; CSV reads the file twice (first pass: which line is the last valid one per id;
second pass: write those lines' rows), which stays streaming and keeps the file's order.

Markdown file names (`card_filename`): `<slug>-<hash>.txt`, where slug is the id folded to
ASCII lowercase letters, digits and single dashes (URL scheme dropped, at most 80 characters,
`card` when nothing is left) and hash is the first 16 hex digits of the SHA-256 of the exact
id. Names are therefore deterministic, distinct for ids that sanitise alike ("a/b" and "a b"),
safe on every common filesystem (ASCII, no separators, no "..", never a reserved Windows name,
no case clash, at most 101 characters) and cannot point outside the folder.

Writes are atomic: each file is written to a hidden temporary file in the same directory and
moved into place with `os.replace`, which also replaces (never follows) a symlink in the way.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from extractor.core.card import SignalCard
from extractor.core.errors import InputError
from extractor.core.record import ResultRecord
from extractor.store.files import atomic_write
from extractor.store.jsonl import Line, lines

CSV_COLUMNS = (
    "id",
    "title",
    "link",
    "reference",
    "date",
    "signal",
    "change",
    "horizon_10y",
    "driving_force",
    "themes",
    "keywords",
)
LIST_SEPARATOR = "; "
SLUG_MAX = 80
HASH_DIGITS = 16
# OWASP CSV injection: a spreadsheet may run a cell that starts with one of these.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass
class ExportSummary:
    """What an export did. `written` counts cards (one markdown file or one CSV card each);
    `rows` counts CSV rows (0 for markdown)."""

    written: int = 0
    skipped_invalid: int = 0
    duplicates: int = 0
    rows: int = 0

    @property
    def skipped(self) -> int:
        return self.skipped_invalid


@dataclass(frozen=True)
class _Entry:
    number: int  # 1-based line number
    record: ResultRecord

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def card(self) -> SignalCard:
        return self.record.card


def card_filename(article_id: str) -> str:
    """The markdown file name for an article id; see the module docstring."""
    return f"{_slug(article_id)}-{_digest(article_id)[:HASH_DIGITS]}.txt"


def _digest(article_id: str) -> str:
    return hashlib.sha256(article_id.encode("utf-8", "surrogatepass")).hexdigest()


def _slug(article_id: str) -> str:
    text = _SCHEME.sub("", article_id.strip())
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = _NOT_SLUG.sub("-", text.lower()).strip("-")
    if len(slug) > SLUG_MAX:
        cut = slug[:SLUG_MAX]
        # Prefer ending on a whole word when one ends in the second half.
        dash = cut.rfind("-")
        slug = (cut[:dash] if dash > SLUG_MAX // 2 else cut).strip("-")
    return slug or "card"


def neutralise(cell: str) -> str:
    """A cell a spreadsheet would read as a formula, prefixed with ' so it stays text."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def export_markdown(results: Path, folder: Path) -> ExportSummary:
    """One seed-format file per article id in `folder` (created if needed)."""
    _check_results(results)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    root = folder.resolve()
    summary = ExportSummary()
    names: dict[str, str] = {}  # file name -> the id it holds
    exported: set[str] = set()  # file names written by this export
    for entry in _entries(results, summary):
        name = card_filename(entry.id)
        if names.setdefault(name, entry.id) != entry.id:
            # Two ids sharing a 64-bit hash prefix: astronomically unlikely, still handled.
            name = f"{_slug(entry.id)}-{_digest(entry.id)}.txt"
            names.setdefault(name, entry.id)
        target = root / name
        if target.parent != root:  # cannot happen with these names; never write outside
            raise InputError(f"refusing to write {target} outside {root}")
        _write_text(target, entry.card.to_markdown())
        if name in exported:  # the same id again: its later card replaces the file
            summary.duplicates += 1
        else:
            summary.written += 1
        exported.add(name)
    return summary


def export_csv(results: Path, out: Path) -> ExportSummary:
    """One row per signal in `out`, UTF-8 with a BOM; see `CSV_COLUMNS`."""
    _check_results(results)
    if out.is_dir():
        raise InputError(f"{out}: is a folder, expected a CSV file name")
    out.parent.mkdir(parents=True, exist_ok=True)

    # Pass 1: the line number of the last valid card for each id, and the counts.
    summary = ExportSummary()
    last: dict[str, int] = {}
    lines_seen = 0
    for entry in _entries(results, summary):
        if entry.id in last:
            summary.duplicates += 1
        last[entry.id] = entry.number
        lines_seen = entry.number
    keep = set(last.values())

    def write(stream: TextIO) -> None:
        writer = csv.writer(stream)
        writer.writerow(CSV_COLUMNS)
        # Pass 2: only the kept lines, and no further than pass 1 read (the file may grow).
        for entry in _entries(results, ExportSummary(), wanted=keep, stop=lines_seen):
            for row in _rows(entry):
                writer.writerow([neutralise(cell) for cell in row])
                summary.rows += 1
            summary.written += 1

    _write_atomic(out, write, encoding="utf-8-sig", newline="")
    return summary


def _rows(entry: _Entry) -> Iterator[list[str]]:
    card, record = entry.card, entry.record
    link = card.link or record.article.url or ""
    head = [entry.id, card.title, link, record.reference, record.article.date or ""]
    tail = [LIST_SEPARATOR.join(card.themes), LIST_SEPARATOR.join(card.keywords)]
    if not card.signals:  # keep the card visible even without a signal
        yield [*head, "", "", "", "", *tail]
    for signal in card.signals:
        yield [*head, *signal.cells(), *tail]


def _check_results(results: Path) -> None:
    if not results.exists():
        raise InputError(f"{results}: no such file")
    if not results.is_file():
        raise InputError(f"{results}: not a file")


def _entries(
    results: Path,
    summary: ExportSummary,
    *,
    wanted: set[int] | None = None,
    stop: int | None = None,
) -> Iterator[_Entry]:
    """The valid cards of `results` in file order, counting the rest into `summary`."""
    try:
        for line in lines(results):
            if stop is not None and line.number > stop:
                break
            if wanted is not None and line.number not in wanted:
                continue
            entry = _parse(line, summary)
            if entry is not None:
                yield entry
    except OSError as err:
        raise InputError(f"{results}: cannot read ({err.strerror or err})") from None


def _parse(line: Line, summary: ExportSummary) -> _Entry | None:
    if not line.raw.strip():
        return None
    if line.value is None or not _encodable(line.raw):
        summary.skipped_invalid += 1
        return None
    try:
        record = ResultRecord.parse(line.value)
    except ValidationError:
        summary.skipped_invalid += 1
        return None
    return _Entry(line.number, record)


def _encodable(raw: bytes) -> bool:
    """An escaped lone surrogate parses but could never be written out as UTF-8."""
    if b"\\ud" not in raw and b"\\uD" not in raw:
        return True
    try:
        json.dumps(json.loads(raw), ensure_ascii=False).encode("utf-8")
    except ValueError:  # UnicodeError is a ValueError
        return False
    return True


def _write_text(target: Path, text: str) -> None:
    _write_atomic(target, lambda out: out.write(text))


def _write_atomic(
    target: Path,
    write: Callable[[TextIO], object],
    *,
    encoding: str = "utf-8",
    newline: str | None = "\n",
) -> None:
    with atomic_write(target) as raw:
        out = io.TextIOWrapper(raw, encoding=encoding, newline=newline)
        write(out)
        out.flush()
        out.detach()  # atomic_write syncs and closes the file itself
