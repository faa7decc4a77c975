"""PDF text-layer libraries compared on a generated report: the gold articles, three times,
78 pages with a running header, a page-number footer and hyphenated line ends. Speed is one
pass over the whole report; fidelity is difflib's ratio between the source words and each
library's raw words (headers, footers and split words not repaired, so alike for all).

    python benchmarks/pdf_libraries.py   # needs pypdfium2 and pdfminer.six installed too
"""

from __future__ import annotations

import difflib
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pdfs import report_pdf  # noqa: E402


def _pypdf(path: Path) -> str:
    import pypdf

    return "\n".join(page.extract_text() for page in pypdf.PdfReader(path).pages)


def _pdfium(path: Path) -> str:
    import pypdfium2

    document = pypdfium2.PdfDocument(path)
    return "\n".join(document[i].get_textpage().get_text_range() for i in range(len(document)))


def _pdfminer(path: Path) -> str:
    from pdfminer.high_level import extract_text

    return str(extract_text(path))


def main() -> None:
    articles = [
        p.read_text(encoding="utf-8") for p in sorted((ROOT / "evals/articles").glob("*.txt"))
    ]
    source = " ".join(articles * 3).split()
    with tempfile.TemporaryDirectory() as folder:
        path = report_pdf(articles * 3, Path(folder) / "report.pdf")
        for name, read in (("pypdf", _pypdf), ("pypdfium2", _pdfium), ("pdfminer.six", _pdfminer)):
            started = time.perf_counter()
            text = read(path)
            seconds = time.perf_counter() - started
            ratio = difflib.SequenceMatcher(None, source, text.split(), autojunk=False).ratio()
            print(f"{name:13} {seconds:6.2f} s  word fidelity {ratio:.3f}")


if __name__ == "__main__":
    main()
