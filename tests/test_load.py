"""Input stage: files, stdin, strings, bytes in odd encodings, and URLs from a local server."""

from __future__ import annotations

import io
import sys
import threading
import types
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from extractor import InputError, load_article
from extractor.pipeline import load
from extractor.pipeline.load import article_from_bytes, article_from_text

PARAGRAPHS = [
    f"Paragraph {i}: the grid operator said rooftop solar supplied most of the power on sunny "
    f"afternoons, which forced new rules for home inverters and batteries across region {i}."
    for i in range(5)
]
PAGE = f"""<!DOCTYPE html>
<html><head><title>Solar Reshapes The Grid</title>
<script>var tracker = "SCRIPTTEXT"; document.write("SCRIPTTEXT");</script></head>
<body>
<nav><ul><li><a href="/">Home NAVTEXT</a></li><li><a href="/world">World NAVTEXT</a></li></ul></nav>
<div class="cookie-banner" id="cookie-consent">We use cookies <button>Accept</button></div>
<article><h1>Solar Reshapes The Grid</h1>{"".join(f"<p>{p}</p>" for p in PARAGRAPHS)}</article>
<footer>Copyright FOOTERTEXT</footer>
</body></html>"""


def _assert_clean_page(text: str) -> None:
    for paragraph in PARAGRAPHS:
        assert paragraph in text
    for noise in ("SCRIPTTEXT", "NAVTEXT", "We use cookies", "FOOTERTEXT", "<p>"):
        assert noise not in text


@pytest.mark.parametrize(
    ("text", "title"),
    [
        (
            "Rooftop Solar Reshapes the Grid\n\nSouth Australia runs on solar.",
            "Rooftop Solar Reshapes the Grid",
        ),
        (
            "# Rooftop Solar Reshapes the Grid\n\nSouth Australia runs on solar.",
            "Rooftop Solar Reshapes the Grid",
        ),
        ("# Closed Heading ##\nBody follows at once.", "Closed Heading"),
        ("\r\n  Headline With CRLF\r\n\r\nBody.\r\n", "Headline With CRLF"),
        ("One paragraph that runs on\nwithout a blank line after its first line.", None),
        ("x" * 201 + "\n\nBody.", None),
    ],
    ids=["headline", "markdown", "closed_markdown", "crlf", "no_blank_line", "first_line_too_long"],
)
def test_plain_text_title(text: str, title: str | None) -> None:
    article = article_from_text(text)
    assert article.title == title
    assert article.text == text.replace("\r\n", "\n").strip()
    assert article.url is None


@pytest.mark.parametrize("html", [None, True])
def test_html_gives_article_text_and_title(html: bool | None) -> None:
    article = article_from_text(PAGE, html=html)
    _assert_clean_page(article.text)
    assert article.title == "Solar Reshapes The Grid"


def test_html_file_is_read_as_html(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(PAGE.removeprefix("<!DOCTYPE html>\n"), encoding="utf-8")
    article = load_article(path)
    _assert_clean_page(article.text)
    assert article.title == "Solar Reshapes The Grid"


def test_plain_text_file(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes("Heat Pumps Stall\n\nSales fell in 2024. Über alles.\n".encode())
    article = load_article(str(path))
    assert (article.title, article.text) == (
        "Heat Pumps Stall",
        "Heat Pumps Stall\n\nSales fell in 2024. Über alles.",
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b" \n\t\r\n  ", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary"),
        (b"text with a NUL \x00 in the middle", "binary"),
    ],
    ids=["empty", "whitespace", "png", "nul"],
)
def test_unreadable_files_raise_input_error(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "input.txt"
    path.write_bytes(data)
    with pytest.raises(InputError, match=message):
        load_article(path)


def test_nul_in_text_is_binary() -> None:
    with pytest.raises(InputError, match="binary"):
        article_from_text("abc\x00def", name="x")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_article(tmp_path / "nope.txt")
    with pytest.raises(InputError, match="no such file"):
        load_article(tmp_path)  # a directory is not an article either


def test_file_larger_than_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load, "MAX_BYTES", 100)
    path = tmp_path / "big.txt"
    path.write_text("word " * 100, encoding="utf-8")
    with pytest.raises(InputError, match="larger than"):
        load_article(path)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("\ufeffHeadline\n\nBody with é.".encode(), "Headline\n\nBody with é."),
        ("Über café and naïve résumé".encode("utf-16"), "Über café and naïve résumé"),
        (
            "Über café and naïve résumé".encode("utf-16-be").join([b"\xfe\xff", b""]),
            "Über café and naïve résumé",
        ),
    ],
    ids=["utf8_bom", "utf16_le_bom", "utf16_be_bom"],
)
def test_encodings_are_decoded(data: bytes, expected: str) -> None:
    assert article_from_bytes(data, name="x").text == expected


LATIN1 = [
    "café",
    "Naïve café owners in Zürich",
    "Le café est fermé à Zürich aujourd'hui, dit le propriétaire.",
]


@pytest.mark.parametrize("text", LATIN1[1:])
def test_invalid_utf8_still_decodes(text: str) -> None:
    data = text.encode("latin-1")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    decoded = article_from_bytes(data, name="x").text
    assert len(decoded) == len(text)
    assert decoded.encode("ascii", "ignore") == text.encode("ascii", "ignore")


@pytest.mark.parametrize("text", LATIN1)
def test_latin1_is_decoded_correctly(text: str) -> None:
    assert article_from_bytes(text.encode("latin-1"), name="x").text == text


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    data = "Headline From Stdin\n\nBody é.".encode()
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO(data)))
    article = load_article("-")
    assert (article.title, article.text) == (
        "Headline From Stdin",
        "Headline From Stdin\n\nBody é.",
    )


def test_empty_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO(b"\n")))
    with pytest.raises(InputError, match="stdin: the article is empty"):
        load_article("-")


ROUTES: dict[str, tuple[int, dict[str, str], bytes]] = {
    "/article": (200, {"Content-Type": "text/html; charset=utf-8"}, PAGE.encode()),
    "/plain": (200, {"Content-Type": "text/plain"}, b"Plain Headline\n\nPlain body."),
    "/moved": (301, {"Location": "/article"}, b""),
    "/missing": (404, {"Content-Type": "text/html"}, b"<html><body>Not found</body></html>"),
    "/paper.pdf": (200, {"Content-Type": "application/pdf"}, b"%PDF-1.4 fake"),
    "/loop": (302, {"Location": "/loop"}, b""),
    "/big": (200, {"Content-Type": "text/plain"}, b"word " * 2000),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, headers, body = ROUTES[self.path]
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_url_html_page(server: str) -> None:
    article = load_article(f"{server}/article")
    _assert_clean_page(article.text)
    assert article.title == "Solar Reshapes The Grid"
    assert article.url == f"{server}/article"


def test_url_plain_text(server: str) -> None:
    article = load_article(f"{server}/plain")
    assert (article.title, article.text, article.url) == (
        "Plain Headline",
        "Plain Headline\n\nPlain body.",
        f"{server}/plain",
    )


def test_url_redirect_gives_final_url(server: str) -> None:
    article = load_article(f"{server}/moved")
    assert article.url == f"{server}/article"
    _assert_clean_page(article.text)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/missing", "HTTP 404"),
        ("/paper.pdf", "a damaged or incomplete PDF"),
        ("/loop", "too many redirects"),
    ],
)
def test_url_failures(server: str, path: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        load_article(f"{server}{path}")
    assert str(caught.value).startswith(f"{server}{path}: ")


def test_url_body_larger_than_cap(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load, "MAX_BYTES", 1000)
    with pytest.raises(InputError, match="larger than"):
        load_article(f"{server}/big")


def test_url_nothing_listening() -> None:
    with pytest.raises(InputError, match="could not fetch"):
        load_article("http://127.0.0.1:9/article")
