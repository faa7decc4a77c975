"""Input stage: turn a file, URL, stdin or a string into clean article text.

HTML goes through trafilatura, which finds the main content and drops navigation, scripts
and cookie banners far better than tag stripping would. Every failure is an `InputError`
with one readable sentence, never a traceback.
"""

from __future__ import annotations

import codecs
import re
import sys
from pathlib import Path

import httpx2
import trafilatura
from charset_normalizer import from_bytes

from extractor.core.article import Article
from extractor.core.errors import InputError

MAX_BYTES = 20_000_000
URL_TIMEOUT = 20.0
_TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "text/markdown")
_HTML_START = re.compile(r"^\s*(?:<!doctype html|<html|<head|<body|<article|<div|<p[\s>])", re.I)
_MD_TITLE = re.compile(r"^#\s+(.+?)\s*#*\s*$")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([\w-]+)""", re.I)
# Typographic quotes and dashes, ellipsis, euro, bullet, guillemets, degree, pound, section,
# copyright, registered, no-break space.
_WESTERN_MARKS = frozenset(
    "\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u20ac\u2022\xab\xbb\xb0\xa3\xa7\xa9\xae\xa0"
)


def load_article(source: str | Path) -> Article:
    """Read an article from a path, an http(s) URL, or '-' for stdin."""
    text_source = str(source)
    if text_source == "-":
        return article_from_bytes(sys.stdin.buffer.read(), name="stdin")
    if re.match(r"^https?://", text_source, re.I):
        return _fetch(text_source)
    path = Path(source)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.stat().st_size > MAX_BYTES:
        raise InputError(f"{path}: larger than {MAX_BYTES // 1_000_000} MB, not an article")
    html = path.suffix.lower() in (".html", ".htm", ".xhtml")
    return article_from_bytes(path.read_bytes(), name=str(path), html=html)


def article_from_bytes(
    data: bytes,
    name: str,
    html: bool | None = None,
    url: str | None = None,
    encoding: str | None = None,
) -> Article:
    """Decode `data` (`encoding` is what a server declared, if anything) and clean it."""
    return article_from_text(_decode(data, name, encoding), name=name, html=html, url=url)


def article_from_text(
    text: str, name: str = "article", html: bool | None = None, url: str | None = None
) -> Article:
    """Clean `text`; HTML is sniffed when `html` is None."""
    if "\x00" in text:
        raise InputError(f"{name}: looks like binary data, not text")
    if html or (html is None and _HTML_START.match(text)):
        return _from_html(text, name, url)
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise InputError(f"{name}: the article is empty")
    return Article(text=text, title=_title_line(text), url=url)


def _decode(data: bytes, name: str, declared: str | None = None) -> str:
    """UTF-8 and BOMs first, then what the server or a <meta charset> declared, then Windows
    Western (what browsers assume for "latin-1"), and only then statistical detection, which
    on short Western text guesses exotic code pages."""
    if not data.strip():
        raise InputError(f"{name}: the article is empty")
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    if b"\x00" in data[:8192]:
        raise InputError(f"{name}: looks like binary data, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    meta = _META_CHARSET.search(data[:4096])
    for named in (declared, meta.group(1).decode("ascii") if meta else None):
        if named:
            try:
                return data.decode(named)
            except (LookupError, UnicodeDecodeError):
                pass
    western = data.decode("cp1252", errors="replace")
    if _looks_western(western):
        return western
    best = from_bytes(data[:200_000]).best()
    if best is None or best.encoding is None:
        raise InputError(f"{name}: not text in any encoding we can recognise")
    return data.decode(best.encoding, errors="replace")


def _looks_western(text: str) -> bool:
    """Mostly ASCII, the rest Latin letters or typographic punctuation: a Western page."""
    extra = [c for c in text if ord(c) > 127]
    return len(extra) < 0.3 * len(text) and all(
        (c.isalpha() and ord(c) < 0x250) or c in _WESTERN_MARKS for c in extra
    )


def _title_line(text: str) -> str | None:
    first, _, rest = text.partition("\n")
    heading = _MD_TITLE.match(first)
    if heading:
        return heading.group(1)
    if rest.startswith("\n") and len(first) <= 200:
        return first.strip()
    return None


def _from_html(html: str, name: str, url: str | None) -> Article:
    body = trafilatura.extract(html, url=url, include_comments=False, favor_recall=True)
    if not body or not body.strip():
        raise InputError(f"{name}: no article text found in the HTML")
    meta = trafilatura.extract_metadata(html, default_url=url)
    title = meta.title if meta else None
    date = meta.date if meta else None
    return Article(
        text=body.strip(), title=title, url=(meta.url if meta else None) or url, date=date
    )


def _fetch(url: str) -> Article:
    try:
        with (
            httpx2.Client(follow_redirects=True, timeout=URL_TIMEOUT, max_redirects=5) as client,
            client.stream("GET", url, headers={"accept": ", ".join(_TEXT_TYPES)}) as response,
        ):
            if response.status_code >= 400:
                raise InputError(f"{url}: the server answered HTTP {response.status_code}")
            kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind and kind not in _TEXT_TYPES:
                raise InputError(f"{url}: serves {kind}, not an HTML or text article")
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_BYTES:
                    raise InputError(f"{url}: larger than {MAX_BYTES // 1_000_000} MB")
                chunks.append(chunk)
            final_url = str(response.url)
            charset = response.charset_encoding
    except httpx2.TooManyRedirects:
        raise InputError(f"{url}: too many redirects") from None
    except httpx2.HTTPError as err:
        raise InputError(f"{url}: could not fetch ({type(err).__name__})") from None
    html = kind != "text/plain" and kind != "text/markdown"
    return article_from_bytes(
        b"".join(chunks), name=url, html=html or None, url=final_url, encoding=charset
    )
