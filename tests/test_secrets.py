"""The API key never leaves the process except in the Authorization header: not in stdout or
stderr (with or without --debug), not in any file a command writes (cards, results, errors,
the SQLite cache, eval reports), whatever fails; and the recorded cassettes hold no key, no
auth header and no real host."""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import tenacity
import yaml

from extractor.backends.client import RetryPolicy
from extractor.cli import main
from extractor.pipeline import extract as extract_module
from tests.conftest import PLACEHOLDER_ORIGIN
from tests.fakeserver import (
    ARTICLE,
    FakeServer,
    Step,
    card_json,
    distinct_articles,
    server_error,
    status,
)

pytestmark = pytest.mark.native("minilm")

ROOT = Path(__file__).resolve().parent.parent
CASSETTES = ROOT / "tests" / "cassettes"
ENDPOINT = ("--model", "fake-model", "--mode", "json_schema", "--strategy", "single")


@pytest.fixture
def key() -> str:
    return f"sk-test-SECRET-{secrets.token_hex(16)}"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str) -> Path:
    """Everything a command may write lands under tmp_path: cache, user folders, outputs."""
    monkeypatch.setenv("OPENAI_API_KEY", key)
    for name in ("OPENAI_BASE_URL", "EXTRACTOR_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EXTRACTOR_CACHE", str(tmp_path / "cache.sqlite"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    # No backoff sleeps (the retries still happen), so persisting 500s fail quickly.
    monkeypatch.setattr(
        extract_module,
        "RetryPolicy",
        functools.partial(RetryPolicy, backoff=tenacity.wait_none(), max_wait=0.05),
    )
    real = extract_module.resolve
    monkeypatch.setattr(
        extract_module, "resolve", lambda *a, **k: replace(real(*a, **k), timeout=5.0)
    )
    return tmp_path


def _spellings(key: str) -> list[bytes]:
    """The key as it could be stored: plain, its random part, JSON-escaped, base64."""
    secret = key.rsplit("-", 1)[1]
    return [
        key.encode(),
        secret.encode(),
        json.dumps(key).encode(),
        base64.b64encode(key.encode()),
        base64.b64encode(f"Bearer {key}".encode()),
        key.encode("utf-16-le"),
    ]


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path


def assert_no_key_under(root: Path, key: str) -> int:
    """No file under `root` holds the key in any spelling; returns how many were read."""
    count = 0
    for path in _files(root):
        data = path.read_bytes()
        count += 1
        for spelling in _spellings(key):
            assert spelling not in data, f"{path} holds the key"
    return count


def assert_no_key_in(text: str, key: str) -> None:
    for spelling in _spellings(key):
        assert spelling.decode("latin-1") not in text


def _run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    capsys.readouterr()
    code = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return code, out + err


def _by_article(failures: dict[str, Step]) -> Any:
    def script(body: dict[str, Any]) -> Step | str:
        text = json.dumps(body.get("messages", []))
        for marker, step in failures.items():
            if marker in text:
                return step
        return card_json()

    return script


def _seeds(folder: Path, count: int = 2) -> Path:
    folder.mkdir(parents=True)
    for seed in sorted((ROOT / "seeds").glob("*.txt"))[:count]:
        shutil.copy(seed, folder / seed.name)
    return folder


def test_the_key_is_sent_and_nowhere_else(
    home: Path, key: str, server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    article = home / "article.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    endpoint = ("--base-url", server.base_url, *ENDPOINT)
    printed: list[str] = []

    def run(expect: int, *args: str | Path) -> None:
        for debug in ((), ("--debug",)):
            code, text = _run(capsys, *args, *endpoint, *debug)
            assert code == expect, text
            printed.append(text)

    # extract: a card, a JSON card to a file, a 401 that echoes nothing, persisting 500s.
    run(0, "extract", article)
    run(0, "extract", article, "--format", "json", "-o", home / "card.json")
    server.play(status(401, "Incorrect API key provided", error_type="invalid_request_error"))
    run(1, "extract", article)
    server.play(server_error(500))
    run(1, "extract", article)

    # batch: cache, results, an errors file, articles failing with 401 and 500.
    inputs = distinct_articles(home / "in", 6)
    server.play(
        _by_article(
            {
                "Headline number 1 ": status(401, "Incorrect API key provided"),
                "Headline number 4 ": server_error(500),
            }
        )
    )
    out, errors = home / "results.jsonl", home / "errors.jsonl"
    batch = ("batch", inputs, "-o", out, "--errors", errors, "--quiet", "--closest", "0")
    run(1, *batch)
    failed = [json.loads(line) for line in errors.read_text().splitlines()]
    assert sorted(line["id"] for line in failed) == ["story-0001.txt", "story-0004.txt"]
    assert any("HTTP 401" in line["error"] for line in failed)
    assert len(out.read_text().splitlines()) == 4
    assert (home / "cache.sqlite").is_file()

    # eval: scoring a tmp copy of two seeds against themselves, then extracting them.
    gold = _seeds(home / "gold")
    code, text = _run(capsys, "eval", "--gold", gold, "--pred", gold, "--out", home / "eval")
    assert code == 0, text
    printed.append(text)
    assert (home / "eval" / "run.json").is_file() and (home / "eval" / "report.html").is_file()

    # The key was really in use: the endpoint got it, in the Authorization header only.
    assert {r.headers.get("authorization") for r in server.requests} == {f"Bearer {key}"}
    for text in printed:
        assert_no_key_in(text, key)
    written = {path.relative_to(home).as_posix() for path in _files(home)}
    assert {"card.json", "results.jsonl", "errors.jsonl", "cache.sqlite"} <= written
    assert {"eval/run.json", "eval/samples.jsonl", "eval/report.md", "eval/report.html"} <= written
    assert assert_no_key_under(home, key) == len(written)


def test_a_real_process_does_not_print_the_key(home: Path, key: str, server: FakeServer) -> None:
    """Outside pytest's capture, with --debug and a failure whose attempts are printed."""
    article = home / "article.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    server.play(status(401, "Incorrect API key provided"))
    env = {**os.environ, "OPENAI_API_KEY": key, "EXTRACTOR_CACHE": str(home / "c.sqlite")}
    command = [sys.executable, "-m", "extractor.cli", "extract", str(article)]
    done = subprocess.run(
        [*command, "--base-url", server.base_url, *ENDPOINT, "--debug"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 1
    assert "HTTP 401" in done.stderr
    assert_no_key_in(done.stdout + done.stderr, key)
    assert_no_key_under(home, key)


def test_a_key_echoed_by_the_endpoint_is_not_repeated(
    home: Path, key: str, server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = distinct_articles(home / "in", 2)
    server.play(status(401, f"Incorrect API key provided: {key}"))
    out = home / "results.jsonl"
    code, text = _run(
        capsys, "batch", inputs, "-o", out, "--base-url", server.base_url, *ENDPOINT,
        "--quiet", "--closest", "0",
    )  # fmt: skip
    assert code == 1
    assert_no_key_in(text, key)
    assert_no_key_under(home, key)


# --------------------------------------------------------------------------------------------
# Cassettes.
# --------------------------------------------------------------------------------------------

_KEY_LIKE = re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{6,}")
_SECRET_HEADERS = {"authorization", "api-key", "x-api-key", "cookie", "set-cookie", "host"}
_SECRET_HEADERS |= {"openai-organization", "openai-project"}


def _cassettes() -> list[Path]:
    return sorted(CASSETTES.rglob("*.yaml"))


def test_there_are_cassettes_to_check() -> None:
    assert len(_cassettes()) >= 5


@pytest.mark.parametrize("cassette", _cassettes(), ids=lambda p: p.stem)
def test_a_cassette_holds_no_secret_and_no_real_host(cassette: Path) -> None:
    text = cassette.read_text(encoding="utf-8")
    assert not _KEY_LIKE.search(text)
    assert "bearer" not in text.lower()
    data = yaml.safe_load(text)
    interactions = data["interactions"]
    assert interactions
    hosts = set()
    for interaction in interactions:
        request, response = interaction["request"], interaction["response"]
        scheme, _, rest = request["uri"].partition("://")
        hosts.add((scheme, rest.split("/", 1)[0]))
        for headers in (request.get("headers") or {}, response.get("headers") or {}):
            assert not {name.lower() for name in headers} & _SECRET_HEADERS, headers
    assert hosts == {PLACEHOLDER_ORIGIN}
    # No real address anywhere in the text either (bodies included).
    assert not re.search(r"(?:127\.0\.0\.1|localhost|\d+\.\d+\.\d+\.\d+):\d+", text)
