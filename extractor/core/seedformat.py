"""The seed markdown format: parse it leniently, render it exactly as the seeds are laid out.

Rendering escapes what model text could use to break the layout (pipes and line breaks in
table cells and list items), so any valid card renders to a document that parses back to it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from extractor.core.errors import CardFormatError
from extractor.core.text import one_line

if TYPE_CHECKING:
    from extractor.core.card import SignalCard

COLUMNS = ("Signal", "Change", "10y horizon", "Driving force")
_FIELDS = ("signal", "change", "horizon_10y", "driving_force")
_SECTIONS = ("summary", "keywords", "themes", "signals", "closest")
_REQUIRED = ("summary", "keywords", "themes", "signals")

# Link text may escape "]" as "\]"; a URL may hold one level of balanced parentheses, as
# Wikipedia's do.
_TEXT = r"(?:\\.|[^\]\\])*"
_URL = r"(?:[^()\s]|\([^()\s]*\))*"
_TITLE = re.compile(
    r"^#\s+(?:__(?P<bold>.+?)__|(?P<plain>[^_].*?))"
    rf"(?:,\s*from\s*\(\[(?P<label>{_TEXT})\]\((?P<url>{_URL})\)\.?\))?\s*$"
)
_LINK = re.compile(rf"^(?:__)?\[External link\]\((?P<url>{_URL})\)(?:__)?\s*$", re.IGNORECASE)
_HEADING = re.compile(r"^##\s+(?P<name>.+?)\s*$")
_BULLET = re.compile(r"^[*-]\s+(?P<item>.*)$")
_RELATED = re.compile(rf"^\[(?P<title>{_TEXT})\]\((?P<ref>{_URL})\)\s*$")
_ESCAPED = re.compile(r"\\(.)")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_SEPARATOR_CELL = re.compile(r"^:?-{3,}:?$")


def _cell(text: str) -> str:
    return one_line(text).replace("|", r"\|")


def _link_text(text: str) -> str:
    return one_line(text).replace("\\", "\\\\").replace("]", "\\]")


def _paragraph(text: str) -> str:
    """A leading '#' would read as a heading: escape it, and keep any backslashes already
    before it by adding one more, which the parser takes off again."""
    text = one_line(text)
    return "\\" + text if text.lstrip("\\").startswith("#") else text


def render(card: SignalCard) -> str:
    """The seed layout, ending in one newline."""
    head = f"# __{one_line(card.title)}__"
    if card.source is not None:
        head += f", from ([{_link_text(card.source.label)}]({card.source.url}).)"
    lines = [head, ""]
    if card.link:
        lines += [f"__[External link]({card.link})__", "", "", ""]
    lines += ["## Summary", "", _paragraph(card.summary), ""]
    lines += ["## Keywords", "", *(f"* {one_line(k)}" for k in card.keywords), ""]
    lines += ["## Themes", "", *(f"* {one_line(t)}" for t in card.themes), ""]
    lines += ["## Signals", "", *_table([[_cell(c) for c in row.cells()] for row in card.signals])]
    if card.closest:
        lines += ["", "## Closest", ""]
        lines += [f"* [{_link_text(r.title)}]({r.reference})" for r in card.closest]
    return "\n".join(lines) + "\n"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(COLUMNS)]

    def line(cells: list[str] | tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    separator = "|" + "|".join(":" + "-" * (w + 1) for w in widths) + "|"
    return [line(COLUMNS), separator, *(line(r) for r in rows)]


def parse(text: str) -> dict[str, Any]:
    """Fields of a seed-format document, ready for `SignalCard` validation."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    fields: dict[str, Any] = {}
    index = _skip_blank(lines, 0)
    if index == len(lines):
        raise CardFormatError("the document is empty", line=1)
    title = _TITLE.match(lines[index])
    if not title:
        raise CardFormatError("expected a title line such as '# __Title__'", line=index + 1)
    fields["title"] = title["bold"] or title["plain"]
    if title["label"] is not None:
        fields["source"] = {"label": _ESCAPED.sub(r"\1", title["label"]), "url": title["url"]}
    index = _skip_blank(lines, index + 1)
    if index < len(lines) and (link := _LINK.match(lines[index])):
        fields["link"] = link["url"]
        index = _skip_blank(lines, index + 1)

    sections: dict[str, tuple[int, list[tuple[int, str]]]] = {}
    current: list[tuple[int, str]] | None = None
    for number, line in enumerate(lines[index:], start=index + 1):
        heading = _HEADING.match(line)
        if heading:
            name = heading["name"].strip().lower()
            if name not in _SECTIONS:
                raise CardFormatError(f"unknown section {heading['name']!r}", line=number)
            if name in sections:
                raise CardFormatError(f"section {heading['name']!r} appears twice", line=number)
            current = []
            sections[name] = (number, current)
        elif current is None:
            if line.strip():
                raise CardFormatError("text before the first '## ' section", line=number)
        elif line.strip():
            current.append((number, line.strip()))
    for name in _REQUIRED:
        if name not in sections:
            raise CardFormatError(
                f"missing section '## {name.capitalize()}'", line=len(text.splitlines()) or 1
            )

    fields["summary"] = _summary(*sections["summary"])
    fields["keywords"] = _bullets(sections["keywords"][1], "keyword")
    fields["themes"] = _bullets(sections["themes"][1], "theme")
    fields["signals"] = _signals(*sections["signals"])
    if "closest" in sections:
        fields["closest"] = _related(sections["closest"][1])
    return fields


def _skip_blank(lines: list[str], index: int) -> int:
    while index < len(lines) and not lines[index].strip():
        index += 1
    return index


def _summary(heading: int, body: list[tuple[int, str]]) -> str:
    if not body:
        raise CardFormatError("the Summary section is empty", line=heading)
    paragraph = " ".join(text for _, text in body)
    escaped = paragraph.startswith("\\") and paragraph.lstrip("\\").startswith("#")
    return paragraph[1:] if escaped else paragraph


def _bullets(body: list[tuple[int, str]], what: str) -> list[str]:
    items = []
    for number, text in body:
        bullet = _BULLET.match(text)
        if not bullet:
            raise CardFormatError(f"expected a '* {what}' list item", line=number)
        items.append(bullet["item"].strip())
    return items


def _related(body: list[tuple[int, str]]) -> list[dict[str, str]]:
    items = []
    for number, text in body:
        bullet = _BULLET.match(text)
        related = _RELATED.match(bullet["item"]) if bullet else None
        if not related:
            raise CardFormatError("expected '* [title](reference)'", line=number)
        title = _ESCAPED.sub(r"\1", related["title"])
        items.append({"title": title, "reference": related["ref"]})
    return items


def _split_row(text: str, number: int) -> list[str]:
    if not text.startswith("|"):
        raise CardFormatError("expected a table row starting with '|'", line=number)
    inner = text[1:-1] if text.endswith("|") and not text.endswith(r"\|") else text[1:]
    return [cell.strip().replace(r"\|", "|") for cell in _CELL_SPLIT.split(inner)]


def _signals(heading: int, body: list[tuple[int, str]]) -> list[dict[str, str]]:
    if len(body) < 2:
        raise CardFormatError(
            "the Signals section needs a table header and separator", line=heading
        )
    (head_no, head), (sep_no, sep) = body[0], body[1]
    header = _split_row(head, head_no)
    if [h.lower() for h in header] != [c.lower() for c in COLUMNS]:
        raise CardFormatError(f"expected table columns {' | '.join(COLUMNS)}", line=head_no)
    if not all(_SEPARATOR_CELL.match(cell) for cell in _split_row(sep, sep_no)):
        raise CardFormatError("expected a table separator row such as |:---|", line=sep_no)
    rows = []
    for number, text in body[2:]:
        cells = _split_row(text, number)
        if len(cells) != len(COLUMNS):
            raise CardFormatError(
                f"table row has {len(cells)} cells, expected {len(COLUMNS)}", line=number
            )
        rows.append(dict(zip(_FIELDS, cells, strict=True)))
    return rows
