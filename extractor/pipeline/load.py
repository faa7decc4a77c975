"""Input stage: turn a file, URL, stdin or a string into clean article text.

PDFs (known by their signature) go through `pdf.py`, which reads their text layer.

HTML goes through trafilatura, which finds the main content and drops navigation, scripts
and cookie banners far better than tag stripping would. Every failure is an `InputError`
with one readable sentence, never a traceback.

Fetching a URL is guarded, because a URL may come from an untrusted list or manifest:
- Only public addresses are fetched. Loopback, private, link-local (cloud metadata services
  such as 169.254.169.254), multicast, reserved, unspecified and other non-global IPv4 and
  IPv6 addresses are refused, whether written in the URL, reached through a host name that
  resolves to one, or reached through a redirect. Redirects are followed by hand (at most
  `MAX_REDIRECTS`) and every hop is checked; the connection goes to the very address that
  was checked, so a host name cannot resolve to another address in between.
- To fetch such addresses anyway (a local server, an intranet), set the environment variable
  `EXTRACTOR_ALLOW_PRIVATE_URLS=1` (also accepted: true, yes, on).
- Only HTML, text and PDF content types are read; at most `MAX_BYTES` are read, streamed, and the
  download is abandoned after `URL_TIMEOUT` seconds without progress or `URL_DEADLINE`
  seconds in all. HTTP error statuses are reported with their code.
Files and stdin are read up to `MAX_BYTES` too.
"""

from __future__ import annotations

import codecs
import ipaddress
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

import httpx2
import lxml.etree
import lxml.html
from charset_normalizer import from_bytes
from lxml.html import HtmlElement

from extractor.core.article import Article
from extractor.core.errors import InputError
from extractor.pipeline.pdf import article_from_pdf, is_pdf

MAX_BYTES = 20_000_000
URL_TIMEOUT = 20.0  # seconds to connect, and between two reads
URL_DEADLINE = 60.0  # seconds for a whole download, redirects included
MAX_REDIRECTS = 5
ALLOW_PRIVATE_URLS = "EXTRACTOR_ALLOW_PRIVATE_URLS"
_REDIRECTS = (301, 302, 303, 307, 308)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Text is binary data in disguise when more than this share of its characters are control
# characters (other than tabs, line and page breaks) or U+FFFD replacements.
_BINARY_SHARE = 0.05
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_ODD_CHARS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd]")
_TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "text/markdown")
_PDF_TYPES = ("application/pdf", "application/x-pdf")
_HTML_START = re.compile(r"^\s*(?:<!doctype html|<html|<head|<body|<article|<div|<p[\s>])", re.I)
_PARSERS = threading.local()  # lxml parsers must not be shared between threads
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
        return article_from_bytes(_read_capped(sys.stdin.buffer, "stdin"), name="stdin")
    if re.match(r"^https?://", text_source, re.I):
        return _fetch(text_source)
    path = Path(source)
    try:
        if path.is_dir():
            raise _error(f"{path}: no such file: it is a folder")
        if not path.exists():
            raise _error(f"{path}: no such file")
        if path.is_file() and path.stat().st_size > MAX_BYTES:
            raise _error(f"{path}: larger than {_size(MAX_BYTES)}, not an article")
        with open(path, "rb") as handle:
            data = _read_capped(handle, str(path))
    except OSError as err:
        raise _error(f"{path}: cannot read it ({err.strerror or type(err).__name__})") from None
    except ValueError as err:  # a NUL in the name, for one
        if isinstance(err, InputError):
            raise
        raise _error(f"{path}: not a usable file name ({err})") from None
    html = path.suffix.lower() in (".html", ".htm", ".xhtml")
    return article_from_bytes(data, name=str(path), html=html)


def _read_capped(handle: BinaryIO, name: str) -> bytes:
    """At most MAX_BYTES, so an endless stream (a pipe, /dev/zero) cannot fill the memory."""
    data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise _error(f"{name}: larger than {_size(MAX_BYTES)}, not an article")
    return data


def _error(message: str) -> InputError:
    """An `InputError` whose message is one printable line, whatever a file name, URL or
    server put into it: control characters, line breaks and bidi overrides are escaped."""
    return InputError(_UNPRINTABLE.sub(lambda m: ascii(m.group())[1:-1], message))


def _size(count: int) -> str:
    return f"{count // 1_000_000} MB" if count >= 1_000_000 else f"{count:,} bytes"


def article_from_bytes(
    data: bytes,
    name: str,
    html: bool | None = None,
    url: str | None = None,
    encoding: str | None = None,
) -> Article:
    """Decode `data` (`encoding` is what a server declared, if anything) and clean it; a PDF
    is known by its signature, whatever its name or content type said."""
    if is_pdf(data):
        return article_from_pdf(data, name, url=url)
    text, warnings = _decode(data, name, encoding)
    article = article_from_text(text, name=name, html=html, url=url)
    return replace(article, warnings=(*warnings, *article.warnings))


def article_from_text(
    text: str, name: str = "article", html: bool | None = None, url: str | None = None
) -> Article:
    """Clean `text`; HTML is sniffed when `html` is None."""
    if "\x00" in text or _binary_share(text) > _BINARY_SHARE:
        raise _error(f"{name}: looks like binary data, not text")
    if html or (html is None and _HTML_START.match(text)):
        return _from_html(text, name, url)
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise _error(f"{name}: the article is empty")
    return Article(text=text, title=_title_line(text), url=url)


def _decode(data: bytes, name: str, declared: str | None = None) -> tuple[str, list[str]]:
    """The text and what decoding had to repair. UTF-8 and BOMs first, then UTF-8 with a few
    bad bytes (a stray Windows quote, a download cut mid-character), then what the server or
    a <meta charset> declared, then Windows Western (what browsers assume for "latin-1"), and
    only then statistical detection, which on short Western text guesses exotic code pages."""
    if not data.strip():
        raise _error(f"{name}: the article is empty")
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(encoding, errors="replace"), []
    if b"\x00" in data[:8192]:
        raise _error(f"{name}: looks like binary data, not text")
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    mostly = _mostly_utf8(data)
    if mostly is not None:
        text, bad = mostly
        return text, [f"{name}: {bad} invalid UTF-8 byte sequences replaced with U+FFFD"]
    meta = _META_CHARSET.search(data[:4096])
    for named in (declared, meta.group(1).decode("ascii") if meta else None):
        if named:
            try:
                return data.decode(named), []
            except (LookupError, UnicodeDecodeError):
                pass
    western = data.decode("cp1252", errors="replace")
    if _looks_western(western):
        return western, []
    best = from_bytes(data[:200_000]).best()
    if best is None or best.encoding is None:
        raise _error(f"{name}: not text in any encoding we can recognise")
    return data.decode(best.encoding, errors="replace"), []


def _mostly_utf8(data: bytes) -> tuple[str, int] | None:
    """UTF-8 text with a few invalid sequences, decoded with those replaced, and how many.

    Text in a legacy code page (é as the single byte E9) almost never forms a valid UTF-8
    multi-byte sequence, so a page with at least as many valid ones as invalid is UTF-8 that
    picked up a stray byte: decoding all of it as Windows-1252 would garble every other
    non-ASCII character (a curly apostrophe becomes three letters) to fix one."""
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") - data.count(b"\xef\xbf\xbd")
    valid = len(text) - len(text.encode("ascii", "ignore")) - text.count("\ufffd")
    return (text, bad) if valid >= bad else None


def _binary_share(text: str) -> float:
    """The share of control characters and U+FFFD in the first 100,000 characters."""
    sample = text[:100_000]
    return len(_ODD_CHARS.findall(sample)) / len(sample) if sample else 0.0


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


def _parse_html(html: str) -> HtmlElement | None:
    """The page's tree, parsed with libxml2's depth and size limits lifted: a page of 500
    nested <div>s is legal HTML whose text the default limit silently drops. Parsed from
    UTF-8 bytes, since the text is decoded already (a string with an encoding declaration
    is refused by lxml)."""
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = lxml.html.HTMLParser(
            encoding="utf-8",
            huge_tree=True,
            collect_ids=False,
            default_doctype=False,
            remove_comments=True,
            remove_pis=True,
        )
    try:
        return lxml.html.document_fromstring(html.encode("utf-8", "replace"), parser=parser)
    except lxml.etree.ParserError:  # nothing parseable: "Document is empty"
        return None


def _from_html(html: str, name: str, url: str | None) -> Article:
    # trafilatura is imported by the first HTML page: it would add 0.1 s to every start.
    import trafilatura

    try:
        tree = _parse_html(html)
        meta = trafilatura.extract_metadata(tree, default_url=url) if tree is not None else None
        body = (
            trafilatura.extract(tree, url=url, include_comments=False, favor_recall=True)
            if tree is not None
            else None
        )
    except Exception as err:  # a parser defeated by hostile markup (nesting, encodings)
        raise _error(f"{name}: could not parse the HTML ({type(err).__name__})") from None
    if not body or not body.strip():
        raise _error(f"{name}: no article text found in the HTML")
    title = meta.title if meta else None
    date = meta.date if meta else None
    return Article(
        text=body.strip(), title=title, url=(meta.url if meta else None) or url, date=date
    )


# --------------------------------------------------------------------------------------------
# URLs: public addresses only, unless the user allows private ones.
# --------------------------------------------------------------------------------------------


def private_urls_allowed() -> bool:
    """Whether the user opted in to fetching loopback, private and other non-public addresses."""
    value = os.environ.get(ALLOW_PRIVATE_URLS, "").strip().lower()
    return value in ("1", "true", "yes", "on")


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def address_refusal(address: str | IPAddress) -> str | None:
    """Why `address` is not fetched without opting in ('loopback', 'private', ...), or None
    for a public address. IPv4 addresses carried inside IPv6 ones (mapped, NAT64, 6to4) are
    judged as the IPv4 address they reach."""
    ip = ipaddress.ip_address(address.split("%")[0] if isinstance(address, str) else address)
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped
        if inner is None and ip in _NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            return address_refusal(inner)
        if ip.sixtofour is not None and (why := address_refusal(ip.sixtofour)):
            return why
    checks = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "non-public"),
    )
    return next((why for refused, why in checks if refused), None)


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, in the resolver's order of preference."""
    found: list[str] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = str(sockaddr[0])
        if address not in found:
            found.append(address)
    return found


def _fetch(url: str) -> Article:
    allowed = private_urls_allowed()
    deadline = time.monotonic() + URL_DEADLINE
    current = url
    try:
        with httpx2.Client(follow_redirects=False, timeout=URL_TIMEOUT) as client:
            for _ in range(MAX_REDIRECTS + 1):
                if time.monotonic() > deadline:
                    raise _error(f"{url}: could not fetch: no page after {URL_DEADLINE:g} s")
                with _open(client, url, current, allowed) as response:
                    if response.status_code in _REDIRECTS:
                        current = _redirect_target(url, current, response)
                        continue
                    data, kind, charset = _read(url, response, deadline)
                    break
            else:
                raise _error(f"{url}: too many redirects (more than {MAX_REDIRECTS})")
    except httpx2.TimeoutException as err:
        raise _error(
            f"{url}: could not fetch: timed out after {URL_TIMEOUT:g} s ({type(err).__name__})"
        ) from None
    except httpx2.HTTPError as err:
        raise _error(f"{url}: could not fetch ({type(err).__name__})") from None
    html = kind != "text/plain" and kind != "text/markdown"
    return article_from_bytes(data, name=url, html=html or None, url=current, encoding=charset)


@contextmanager
def _open(
    client: httpx2.Client, url: str, current: str, allowed: bool
) -> Iterator[httpx2.Response]:
    """A streamed GET of `current` (a hop of `url`): to a checked, public address unless
    private ones are allowed, and pinned to that address."""
    hop = "" if current == url else f"redirected to {current}, "
    try:
        target = httpx2.URL(current)
    except (httpx2.InvalidURL, ValueError):
        raise _error(f"{url}: {hop}not a valid URL") from None
    if target.scheme not in ("http", "https") or not target.host:
        raise _error(f"{url}: {hop}not an http(s) URL")
    headers = {"accept": ", ".join((*_TEXT_TYPES, *_PDF_TYPES))}
    if allowed:
        candidates = [client.build_request("GET", target, headers=headers)]
    else:
        candidates = _pinned_requests(client, url, hop, target, headers)
    response: httpx2.Response | None = None
    for number, request in enumerate(candidates, start=1):
        try:
            response = client.send(request, stream=True)
            break
        except httpx2.ConnectError:
            if number == len(candidates):
                raise
    if response is None:  # no candidates: never the case, but say so rather than crash
        raise _error(f"{url}: {hop}could not fetch: nowhere to connect")
    try:
        yield response
    finally:
        response.close()


def _pinned_requests(
    client: httpx2.Client, url: str, hop: str, target: httpx2.URL, headers: dict[str, str]
) -> list[httpx2.Request]:
    """One request per address the host resolves to, each aimed at that address (with the
    host name in the Host header and TLS SNI); refused if any address is not public."""
    host = target.raw_host.decode("ascii")
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        addresses = resolve_host(host, port)
    except (OSError, UnicodeError):
        addresses = []
    if not addresses:
        raise _error(f"{url}: {hop}could not fetch: no address for {host}")
    for address in addresses:
        why = address_refusal(address)
        if why:
            shown = host if host == address else f"{host} ({address})"
            article = "an" if why[0] in "aeiou" else "a"
            raise _error(
                f"{url}: {hop}refused to fetch {shown}: {article} {why} address; "
                f"set {ALLOW_PRIVATE_URLS}=1 to allow private and local addresses"
            )
    pinned = {**headers, "host": target.netloc.decode("ascii")}
    return [
        client.build_request(
            "GET",
            target.copy_with(host=address),
            headers=pinned,
            extensions={"sni_hostname": host},
        )
        for address in addresses
    ]


def _redirect_target(url: str, current: str, response: httpx2.Response) -> str:
    location = response.headers.get("location", "").strip()
    if not location:
        raise _error(f"{url}: the server answered HTTP {response.status_code} without a Location")
    try:
        return str(httpx2.URL(current).join(location))
    except (httpx2.InvalidURL, ValueError):
        raise _error(f"{url}: redirected to an invalid URL") from None


def _read(url: str, response: httpx2.Response, deadline: float) -> tuple[bytes, str, str | None]:
    """The body, its content type and declared charset; the body streamed, capped at
    MAX_BYTES and abandoned at the deadline."""
    if response.status_code >= 400 or response.status_code < 200:
        raise _error(f"{url}: the server answered HTTP {response.status_code}")
    if response.status_code >= 300:
        raise _error(f"{url}: the server answered HTTP {response.status_code}, not a page")
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind and kind not in _TEXT_TYPES and kind not in _PDF_TYPES:
        raise _error(f"{url}: serves {kind}, not an HTML, text or PDF article")
    too_big = _error(f"{url}: larger than {_size(MAX_BYTES)}, not an article")
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > MAX_BYTES:
        raise too_big
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():  # as it arrives: a chunk size would wait to fill it
        size += len(chunk)
        if size > MAX_BYTES:
            raise too_big
        if time.monotonic() > deadline:
            raise _error(f"{url}: could not fetch: still downloading after {URL_DEADLINE:g} s")
        chunks.append(chunk)
    return b"".join(chunks), kind, response.charset_encoding
