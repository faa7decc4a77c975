"""PDF input: the text layer in reading order, cleaned of page furniture, with page starts;
scans, encrypted and broken PDFs refused in one line (exit 2 from the CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from extractor.batch.inputs import jobs
from extractor.cli import main
from extractor.core.errors import InputError
from extractor.pipeline.load import load_article
from tests.fakeserver import ARTICLE, FakeServer, card_json, reply
from tests.pdfs import HEADER, broken_pdf, encrypted_pdf, report_pdf, scanned_pdf

ROOT = Path(__file__).resolve().parent.parent
EVAL_ARTICLES = sorted((ROOT / "evals" / "articles").glob("*.txt"))


@pytest.fixture
def two_articles(tmp_path: Path) -> tuple[Path, list[str]]:
    texts = [path.read_text(encoding="utf-8") for path in EVAL_ARTICLES[:2]]
    return report_pdf(texts, tmp_path / "report.pdf"), texts


def _words(text: str) -> list[str]:
    return text.split()


def test_a_pdf_reads_as_its_articles_without_page_furniture(
    two_articles: tuple[Path, list[str]],
) -> None:
    path, texts = two_articles
    article = load_article(path)
    assert _words(article.text) == _words("\n\n".join(texts))  # hyphenation mended, in order
    assert HEADER not in article.text and "Page 1 of" not in article.text
    assert "%PDF" not in article.text and "endobj" not in article.text
    assert article.title == "Foresight Review" and article.date == "2025-03-14"


def test_pages_are_remembered_in_order(two_articles: tuple[Path, list[str]]) -> None:
    path, texts = two_articles
    article = load_article(path)
    assert article.pages[0] == 0 and len(article.pages) >= 3
    assert list(article.pages) == sorted(article.pages)
    second = article.text.index(texts[1].split("\n")[0][:40])
    assert article.page_at(second) == article.pages.index(second) + 1
    assert article.page_at(len(article.text) - 1) == len(article.pages)


def test_words_hyphenated_in_the_document_keep_their_hyphen(tmp_path: Path) -> None:
    line = "The many start-ups said so. " + "x" * 70 + " start-"
    text = line + "ups grew and the ministry reconfigured its priorities."
    article = load_article(report_pdf([text], tmp_path / "h.pdf"))
    assert "start-ups grew" in article.text


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: scanned_pdf(d / "scan.pdf"), "has no text layer"),
        (lambda d: encrypted_pdf(d / "locked.pdf"), "is encrypted"),
        (
            lambda d: broken_pdf(d / "cut.pdf", report_pdf([ARTICLE] * 3, d / "whole.pdf")),
            "damaged or incomplete PDF",
        ),
    ],
    ids=["scanned", "encrypted", "broken"],
)
def test_a_pdf_without_text_is_one_line_and_exit_2(
    make: object, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(InputError, match=message) as caught:
        load_article(path)
    assert "\n" not in str(caught.value)
    assert main(["extract", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0]


def test_a_pdf_url_and_a_pdf_in_a_folder_are_read(
    server: FakeServer, two_articles: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, texts = two_articles
    server.pages["/report.pdf"] = (200, {"content-type": "application/pdf"}, path.read_bytes())
    article = load_article(f"{server.url}/report.pdf")
    assert _words(article.text) == _words("\n\n".join(texts))
    (folder := tmp_path / "in").mkdir()
    (folder / "report.pdf").write_bytes(path.read_bytes())
    (job,) = list(jobs([str(folder)]))
    assert job.load().text == article.text


def test_the_model_never_sees_pdf_syntax(
    server: FakeServer, two_articles: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, texts = two_articles
    server.play(reply(card_json()))
    out = tmp_path / "card.json"
    code = main(
        ["extract", str(path), "--base-url", server.base_url, "--model", "fake-model",
         "--mode", "json_schema", "--strategy", "single", "--format", "json", "-o", str(out)]
    )  # fmt: skip
    assert code == 0
    sent = server.requests[0].user_text
    assert texts[1].split("\n")[0][:40] in sent
    assert "%PDF" not in sent and "endobj" not in sent and HEADER not in sent
    result = json.loads(out.read_text())
    assert result["article"]["pages"][0] == 0
