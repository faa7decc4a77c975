"""PDF input: the text layer of a PDF as clean article text, with where each page starts.

pypdf reads the text layer (see the README for why it and not pypdfium2, pdfminer.six or
PyMuPDF). What a page's text layer holds is typeset lines, so three repairs follow:

- running headers and footers (a line repeated at the top or bottom of most pages, page
  numbers aside) and bare page numbers ("7", "Page 7 of 12", "- 7 -") are dropped;
- a word hyphenated across a line end is joined again, keeping the hyphen only when the
  document also writes the word with one elsewhere ("start-ups");
- lines are joined into paragraphs: a line well short of the document's full lines (a
  heading, a paragraph's last line) ends its paragraph, as does a somewhat short line that
  ends a sentence and a page whose last line ends one.

A PDF without a text layer (a scan), one that needs a password, or one that cannot be parsed
is an `InputError` with one line saying which, never a page of PDF syntax sent to a model.
"""

from __future__ import annotations

import io
import logging
import re
import statistics
import warnings
from collections import Counter
from typing import TYPE_CHECKING

from extractor.core.article import Article
from extractor.core.errors import InputError

if TYPE_CHECKING:
    import pypdf

PDF_MAGIC = b"%PDF-"
# A line is a running header or footer when it opens or closes at least this share of pages.
_RUNNING_SHARE = 0.5
_EDGE_LINES = 2  # lines at the top and at the bottom of a page where they are looked for
_PAGE_NUMBER = re.compile(
    r"^\s*(?:[-\u2013\u2014]\s*)?(?:page\s+)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?"
    r"(?:\s*[-\u2013\u2014])?\s*$",
    re.I,
)
_SENTENCE_END = re.compile(r"[.!?:;\"'\u201d\u2019)\]]$")
_HYPHENATED = re.compile(r"(\w+)-$")
_WORD_START = re.compile(r"^([a-z\u00df-\u00ff]\w*)")
_GENERATOR_TITLE = re.compile(r"^(?:microsoft word - |untitled\b)", re.I)
_MIN_LETTERS = 20  # fewer letters than this in the whole text layer: no text layer at all

logging.getLogger("pypdf").setLevel(logging.CRITICAL)  # its own complaints would be noise


def is_pdf(data: bytes) -> bool:
    """The PDF signature at the start (some writers put a few bytes before it)."""
    return PDF_MAGIC in data[:1024]


def article_from_pdf(data: bytes, name: str, url: str | None = None) -> Article:
    """The PDF's text in reading order, page starts in `Article.pages`, and its title and
    date from the document metadata; raises `InputError` for scans, encrypted and broken
    files."""
    # pypdf is imported by the first PDF: it would add 0.1 s to every command's start.
    from pypdf.errors import FileNotDecryptedError, PyPdfError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pages, title, date = _read(data, name)
    except InputError:
        raise
    except FileNotDecryptedError:
        raise _encrypted(name) from None
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError):
        raise InputError(f"{name}: a damaged or incomplete PDF; no text could be read") from None
    except RecursionError:
        raise InputError(f"{name}: a PDF nested too deeply to read") from None
    text, starts = _assemble(_drop_running(pages))
    if sum(c.isalpha() for c in text) < _MIN_LETTERS:
        raise InputError(
            f"{name}: the PDF has no text layer (a scan or images only); run OCR on it first"
        )
    return Article(text=text, title=title, url=url, date=date, pages=starts)


def _encrypted(name: str) -> InputError:
    return InputError(f"{name}: the PDF is encrypted (password-protected); decrypt it first")


def _read(data: bytes, name: str) -> tuple[list[list[str]], str | None, str | None]:
    import pypdf
    from pypdf.errors import PyPdfError

    reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        try:
            opened = reader.decrypt("")  # restrictions only: readable without a password
        except (PyPdfError, NotImplementedError):
            opened = pypdf.PasswordType.NOT_DECRYPTED
        if opened == pypdf.PasswordType.NOT_DECRYPTED:
            raise _encrypted(name)
    pages = [_page_lines(page.extract_text() or "") for page in reader.pages]
    if not pages:
        raise InputError(f"{name}: the PDF has no pages")
    return pages, *_metadata(reader)


def _page_lines(text: str) -> list[str]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [" ".join(line.split()) for line in lines if line.strip()]


def _metadata(reader: pypdf.PdfReader) -> tuple[str | None, str | None]:
    from pypdf.errors import PyPdfError

    try:
        meta = reader.metadata
        title = " ".join(str(meta.title).split()) if meta and meta.title else None
        created = meta.creation_date if meta else None
    except (PyPdfError, ValueError, TypeError, KeyError):
        return None, None
    if title and _GENERATOR_TITLE.match(title):
        title = None
    return title or None, created.date().isoformat() if created else None


def _shape(line: str) -> str:
    """A line with its digits masked, so "Page 3 of 9" and "Page 4 of 9" are one footer."""
    return re.sub(r"\d+", "#", line.casefold())


def _drop_running(pages: list[list[str]]) -> list[list[str]]:
    """Pages without running headers, footers and page numbers."""
    edges: Counter[str] = Counter()
    for lines in pages:
        edge = {*lines[:_EDGE_LINES], *lines[-_EDGE_LINES:]}
        edges.update({_shape(line) for line in edge})
    needed = max(2, round(_RUNNING_SHARE * len(pages)))
    running = {shape for shape, count in edges.items() if count >= needed}
    kept: list[list[str]] = []
    for lines in pages:
        top, bottom = lines[:_EDGE_LINES], lines[_EDGE_LINES:]
        body = bottom[: max(len(bottom) - _EDGE_LINES, 0)]
        tail = bottom[len(body) :]
        kept.append(
            [line for line in top if not _furniture(line, running)]
            + body
            + [line for line in tail if not _furniture(line, running)]
        )
    return kept


def _furniture(line: str, running: set[str]) -> bool:
    return _shape(line) in running or _PAGE_NUMBER.match(line) is not None


def _assemble(pages: list[list[str]]) -> tuple[str, tuple[int, ...]]:
    """Paragraphs separated by blank lines, and the offset where each page's text starts."""
    lines = [line for page in pages for line in page]
    full = statistics.median(len(line) for line in lines) if lines else 0
    hyphenated = _hyphenated_words(lines)
    out: list[str] = []
    size = 0
    starts: list[int] = []
    paragraph = ""
    for page in pages:
        page_start = size + (len(paragraph) + 1 if paragraph else 0)
        for line in page:
            paragraph = _join(paragraph, line, hyphenated) if paragraph else line
            if len(line) < 0.7 * full or (_SENTENCE_END.search(line) and len(line) < 0.85 * full):
                out.append(paragraph)
                size += len(paragraph) + 2
                paragraph = ""
        if paragraph and _SENTENCE_END.search(paragraph):
            out.append(paragraph)
            size += len(paragraph) + 2
            paragraph = ""
        starts.append(page_start)
    if paragraph:
        out.append(paragraph)
    text = "\n\n".join(out)
    return text, tuple(min(start, len(text)) for start in starts)


def _hyphenated_words(lines: list[str]) -> set[str]:
    """Hyphenated words the document writes within a line, such as "start-ups"."""
    return {match.casefold() for line in lines for match in re.findall(r"\b\w+-\w+\b", line)}


def _join(paragraph: str, line: str, hyphenated: set[str]) -> str:
    """`line` appended to `paragraph`, mending a word split by a hyphen at the line end."""
    left = _HYPHENATED.search(paragraph)
    right = _WORD_START.match(line)
    if left and right:
        whole = f"{left.group(1)}-{right.group(1)}".casefold()
        if whole in hyphenated:
            return paragraph + line
        return paragraph[:-1] + line
    return f"{paragraph} {line}"
