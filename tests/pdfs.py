"""PDFs made on the spot with fpdf2 (pure Python), for the tests and benchmarks: articles laid
out as a report would be, with a running header, a page-number footer and words hyphenated
across line ends; and the PDFs no text can come from (scanned, encrypted, broken). Not a test
module."""

from __future__ import annotations

import re
from pathlib import Path

from fpdf import FPDF

HEADER = "Signal Quarterly - Foresight Review"
_LINE_CHARS = 88  # characters per line at 10 pt Helvetica on A4 with 20 mm margins
_LINES_PER_PAGE = 52
_LATIN1 = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"}


class _Report(FPDF):
    header_text = HEADER

    def header(self) -> None:
        self.set_font("Helvetica", size=8)
        self.cell(0, 6, self.header_text, align="C")
        self.ln(10)

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", size=8)
        self.cell(0, 8, f"Page {self.page_no()} of {{nb}}", align="C")


def _latin1(text: str) -> str:
    for char, plain in _LATIN1.items():
        text = text.replace(char, plain)
    return text.encode("latin-1", "replace").decode("latin-1")


def _lines(paragraph: str, width: int = _LINE_CHARS) -> list[str]:
    """Wrapped lines; a long word that overflows is split with a hyphen at the line end,
    as typesetting does, so the reader has to join it again."""
    lines: list[str] = []
    line = ""
    for word in paragraph.split():
        candidate = f"{line} {word}" if line else word
        if len(candidate) <= width:
            line = candidate
            continue
        room = width - len(line) - 2  # a space and the hyphen
        if len(word) >= 8 and room >= 4 and word.isalpha():
            lines.append(f"{line} {word[:room]}-")
            line = word[room:]
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    return lines


def report_pdf(
    articles: list[str],
    path: Path,
    *,
    title: str | None = "Foresight Review",
    date: tuple[int, int, int] | None = (2025, 3, 14),
    new_page_each: bool = True,
) -> Path:
    """`articles` (paragraphs separated by blank lines) as a PDF report, one article per new
    page unless `new_page_each` is False, with metadata title and creation date."""
    import datetime

    pdf = _Report(format="A4")
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(True, margin=20)
    if title:
        pdf.set_title(title)
    if date:
        pdf.set_creation_date(datetime.datetime(*date, tzinfo=datetime.UTC))
    pdf.set_font("Helvetica", size=10)
    for number, article in enumerate(articles):
        if number == 0 or new_page_each:
            pdf.add_page()
        for paragraph in re.split(r"\n\s*\n", _latin1(article).strip()):
            for line in _lines(paragraph):
                pdf.cell(0, 4.6, line, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
    pdf.output(str(path))
    return path


def scanned_pdf(path: Path, pages: int = 2) -> Path:
    """Pages of drawn shapes and no text layer, as a scan without OCR is."""
    pdf = FPDF(format="A4")
    for _ in range(pages):
        pdf.add_page()
        for row in range(30):
            pdf.rect(20, 20 + row * 8, 170 - (row * 7) % 60, 4, style="F")
    pdf.output(str(path))
    return path


def encrypted_pdf(path: Path, text: str = "A secret article about solar microgrids.") -> Path:
    """A PDF that needs a password to open."""
    pdf = FPDF(format="A4")
    pdf.set_encryption(owner_password="owner-secret", user_password="user-secret")
    pdf.add_page()
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(0, 5, text)
    pdf.output(str(path))
    return path


def broken_pdf(path: Path, source: Path) -> Path:
    """The first 40% of a real PDF: a download cut short, its cross-reference table lost."""
    data = source.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 5])
    return path
