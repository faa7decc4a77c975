"""Cassette settings shared by every test that replays model traffic.

Cassettes are recorded from a real OpenAI-compatible server (llama.cpp's server with the
bundled SmolLM2 model) and replayed with record mode `none`; see tests/test_cassettes.py.
Hosts, keys and transient failures never reach a cassette.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from extractor.pipeline import shortlist
from extractor.pipeline.load import ALLOW_PRIVATE_URLS
from tests.fakeserver import TALLY, FakeServer
from tests.native import probe

PLACEHOLDER_ORIGIN = ("https", "llm.test")
_SECRET_HEADERS = ("set-cookie", "openai-organization", "openai-project", "x-request-id")


def _scrub_request(request: Any) -> Any:
    parts = urlsplit(request.uri)
    request.uri = urlunsplit((*PLACEHOLDER_ORIGIN, parts.path, parts.query, ""))
    return request


def _scrub_response(response: dict[str, Any]) -> dict[str, Any] | None:
    status = response["status"]["code"]
    if status in (408, 409, 429) or status >= 500:
        return None  # a replayed transient error would only replay its backoff
    headers = response.get("headers", {})
    for name in list(headers):
        if name.lower() in _SECRET_HEADERS:
            del headers[name]
    return response


@pytest.fixture(scope="session")
def vcr_config() -> dict[str, Any]:
    key = os.environ.get("LLM_API_KEY", "sk-test")
    return {
        "filter_headers": [
            "authorization",
            "api-key",
            "x-api-key",
            "openai-organization",
            "openai-project",
            "cookie",
            "host",
        ],
        "filter_sensitive_data": {"<API_KEY>": key},
        "before_record_request": _scrub_request,
        "before_record_response": _scrub_response,
        "match_on": ["method", "path", "body"],
        "decode_compressed_response": True,
    }


@pytest.fixture
def llm_endpoint() -> dict[str, str]:
    """Where recordings are made; replay never connects (nothing listens on port 9)."""
    return {
        "base_url": os.environ.get("LLM_BASE_URL", "http://127.0.0.1:9/v1"),
        "api_key": os.environ.get("LLM_API_KEY", "sk-test"),
        "model": os.environ.get("LLM_MODEL", "smollm2-135m-instruct"),
    }


@pytest.fixture(autouse=True)
def _loopback_urls_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test pages are served on 127.0.0.1, which fetching refuses by default."""
    monkeypatch.setenv(ALLOW_PRIVATE_URLS, "1")


@pytest.fixture(autouse=True)
def _private_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Each test its own card cache: `extractor extract` caches a long document's parts, and
    a test must neither read another's cards nor write into the user's home."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture(autouse=True)
def _no_shortlist_ranking(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small-model shortlists (themes, driving forces) are ranked by MiniLM, native code that
    runs in-process only in tests marked `native("minilm")`; elsewhere the choice is the whole
    vocabulary."""
    monkeypatch.setattr(shortlist, "embedder", lambda: None)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """A scriptable OpenAI-compatible server on loopback that records every request."""
    with FakeServer() as fake:
        yield fake


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TALLY:
        counts = ", ".join(f"{name}: {count}" for name, count in sorted(TALLY.items()))
        terminalreporter.write_line(f"reliability tally: {counts}")


def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        "markers", "native(name): uses llama.cpp or onnxruntime in-process (see tests/native.py)"
    )


def pytest_runtest_setup(item: Any) -> None:
    for marker in item.iter_markers("native"):
        (name,) = marker.args
        child = probe(name)
        if child.crash:
            pytest.skip(
                f"{name} {child.explain().splitlines()[0]} on this CPU: "
                "see tests/test_native.py, which fails for it"
            )
