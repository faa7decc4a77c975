"""The defects a new user met (issue 9), one test each: a mode fallback racing under
concurrency, two runs on one results file, a full disk, a damaged cache, a stray non-UTF-8
byte, deeply nested HTML, the article's own headline taken for an echo, Closest links missing
from the Python API, two results formats, and undeclared dependencies.

What the fixes added is imported inside the tests that need it, so that on the code before
them each test fails on its own defect instead of the whole module failing to import."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import resource
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from extractor import Article, load_article
from extractor.backends.config import resolve
from extractor.batch.run import BatchOptions, extract_batch
from extractor.cli import main
from extractor.core.errors import ConfigError, EndpointError
from extractor.core.usage import Usage
from tests.fakeserver import (
    ARTICLE,
    FakeServer,
    bad_request,
    card_json,
    distinct_articles,
    make_extractor,
    read_jsonl,
    reply,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("EXTRACTOR_CACHE", str(tmp_path / "cache.sqlite"))


def _args(server: FakeServer, *more: str | Path) -> list[str]:
    return [
        "batch", *map(str, more), "--base-url", server.base_url, "--model", "fake-model",
        "--strategy", "single", "--quiet", "--closest", "0",
    ]  # fmt: skip


def _rejects_json_schema(body: dict[str, Any]) -> Any:
    if body.get("response_format", {}).get("type") == "json_schema":
        return bad_request("response_format json_schema is not supported")
    return reply(card_json())


# 1. ------------------------------------------------------------------------------------------


def test_concurrent_articles_agree_on_one_mode_when_the_endpoint_rejects_json_schema(
    server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.play(_rejects_json_schema)
    server.delay = 0.2  # all eight first requests are in flight before any answer comes back
    inputs = distinct_articles(tmp_path / "in", 8)
    out = tmp_path / "results.jsonl"
    assert main([*_args(server, inputs, "-o", out), "--concurrency", "8"]) == 0
    records = read_jsonl(out)
    assert len(records) == 8 and {r["mode"] for r in records} == {"json_object"}
    err = capsys.readouterr().err
    assert err.count("rejected mode json_schema") == 1, err
    assert not any("json_object (HTTP" in w for r in records for w in r["warnings"])
    # The policy the run asked for keys resume: a rerun sends nothing for what is done.
    sent = len(server.requests)
    assert main([*_args(server, inputs, "-o", out), "--concurrency", "8"]) == 0
    assert len(server.requests) == sent and len(read_jsonl(out)) == 8


def test_a_negotiation_lowers_the_mode_once_whoever_reports_it() -> None:
    from extractor.backends.profile import Mode, Negotiation, resolve_profile

    endpoint = resolve(model="m", base_url="http://127.0.0.1:1/v1", environ={})
    start = resolve_profile(endpoint)
    negotiation = Negotiation(start)
    rejection = EndpointError("rejected", [], Usage(), status=400)
    results: list[tuple[Mode, str | None]] = []

    def report() -> None:
        profile, note = negotiation.rejected(start, rejection)
        results.append((profile.mode, note))

    threads = [threading.Thread(target=report) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {mode for mode, _ in results} == {Mode.JSON_OBJECT}
    assert sum(note is not None for _, note in results) == 1
    assert start.mode is Mode.JSON_SCHEMA  # the profile itself never changed
    # A rejection of the lowered mode lowers it once more; an answered request never does.
    assert negotiation.rejected(negotiation.profile, rejection)[0].mode is Mode.JSON
    answered = EndpointError("rejected", [], Usage(requests=1), status=400)
    with pytest.raises(EndpointError):
        negotiation.rejected(negotiation.profile, answered)


# 2. ------------------------------------------------------------------------------------------


def _batch_process(server: FakeServer, *args: str | Path, **kwargs: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "extractor.cli", *_args(server, *args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_a_second_run_on_the_same_results_file_is_refused_naming_the_first(
    server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.delay = 0.1
    inputs = distinct_articles(tmp_path / "in", 20)
    out = tmp_path / "results.jsonl"
    first = _batch_process(server, inputs, "-o", out, "--concurrency", "1")
    lock = out.with_name("results.jsonl.lock")
    deadline = time.monotonic() + 60
    while not (lock.is_file() and lock.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert main(_args(server, inputs, "-o", out)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"pid {first.pid}" in err and "in use" in err
    assert first.wait(timeout=120) == 0, first.stderr.read() if first.stderr else ""
    ids = [record["id"] for record in read_jsonl(out)]
    assert len(ids) == len(set(ids)) == 20
    # Once the first run has ended, its lock is gone with it.
    assert main(_args(server, inputs, "-o", out)) == 0


# 3. ------------------------------------------------------------------------------------------


def _file_size_limit(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_disk_that_takes_no_more_ends_the_run_at_once_naming_the_file(
    server: FakeServer, tmp_path: Path
) -> None:
    inputs = distinct_articles(tmp_path / "in", 3)
    out = tmp_path / "results.jsonl"
    earlier = b"".join(
        json.dumps({"id": f"old-{n}", "key": "k", "pad": "x" * 900}).encode() + b"\n"
        for n in range(50)
    )
    out.write_bytes(earlier)
    # No file of the child may grow past a few bytes more than the results file holds
    # (Python ignores SIGXFSZ, so a write past the limit fails with EFBIG): the next line of
    # results cannot be written, and the run must say so and stop.
    started = time.monotonic()
    limit = len(earlier) + 200
    child = _batch_process(
        server, inputs, "-o", out, "--no-cache", preexec_fn=lambda: _file_size_limit(limit)
    )
    _, err = child.communicate(timeout=60)
    assert child.returncode == 1, err
    assert time.monotonic() - started < 30
    last = err.strip().splitlines()[-1]
    assert last == f"extractor: error: cannot write {out}: File too large", err
    assert out.read_bytes() == earlier  # nothing half-written


def test_a_disk_filling_mid_run_leaves_whole_lines_and_the_rerun_finishes(
    server: FakeServer, tmp_path: Path
) -> None:
    inputs = distinct_articles(tmp_path / "in", 60)
    out = tmp_path / "results.jsonl"
    # Every file the child writes stops growing at 40 KB (Python ignores SIGXFSZ, so a write
    # past it fails with EFBIG): the results file, or the cache beside it, fills mid-run.
    child = _batch_process(
        server, inputs, "-o", out, "--concurrency", "4", preexec_fn=lambda: _file_size_limit(40_000)
    )
    try:
        _, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 1, err
    assert re.fullmatch(r"extractor: error: cannot write .+: .+", err.strip().splitlines()[-1])
    from extractor.store.jsonl import lines

    done = [line for line in lines(out)]
    assert 0 < len(done) < 60 and all(line.value is not None for line in done)
    assert main([*_args(server, inputs, "-o", out), "--no-cache"]) == 0
    ids = [record["id"] for record in read_jsonl(out)]
    assert len(ids) == len(set(ids)) == 60


# 4. ------------------------------------------------------------------------------------------


def test_a_damaged_cache_is_moved_aside_and_rebuilt(
    server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache.sqlite"
    cache.write_bytes(b"this is not a database\n" * 100)
    inputs = distinct_articles(tmp_path / "in", 2)
    assert main(_args(server, inputs, "-o", tmp_path / "a.jsonl")) == 0
    err = capsys.readouterr().err
    assert "warning: the cache" in err and "damaged" in err
    (aside,) = tmp_path.glob("cache.sqlite.damaged-*")
    assert aside.read_bytes().startswith(b"this is not a database")
    assert main(_args(server, inputs, "-o", tmp_path / "b.jsonl")) == 0  # the new cache works
    assert "2 cached" in capsys.readouterr().err


# 5. ------------------------------------------------------------------------------------------

_BODY = (
    "<p>Disney’s parks division said on Tuesday that visitors to its resorts in Florida and "
    "California spent more per head than ever, as ticket prices rose for the third year.</p>"
    "<p>Analysts at the café chain’s rival said the “premium guest” strategy is working.</p>"
) * 3


def _page(head_extra: bytes = b"", tail: bytes = b"") -> bytes:
    return (
        b"<!doctype html><html><head><meta charset='utf-8'><title>Parks</title>"
        + head_extra
        + b"</head><body><article>"
        + _BODY.encode("utf-8")
        + b"</article></body></html>"
        + tail
    )


@pytest.mark.parametrize(
    "page",
    [
        _page(head_extra=b"<!-- editor\x92s note -->"),  # a cp1252 apostrophe in a comment
        _page(tail="’".encode()[:2]),  # a download cut in the middle of a character
    ],
    ids=["stray-cp1252-byte", "cut-mid-character"],
)
def test_a_utf8_page_with_a_stray_byte_stays_utf8(page: bytes, tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_bytes(page)
    article = load_article(path)
    assert "Disney’s parks" in article.text and "“premium guest”" in article.text
    assert any("invalid UTF-8" in warning for warning in article.warnings)


def test_a_real_cp1252_page_is_still_read_as_cp1252(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_bytes(
        _page()
        .replace(b"charset='utf-8'", b"charset='windows-1252'")
        .decode("utf-8")
        .encode("cp1252")
    )
    article = load_article(path)
    assert "Disney’s parks" in article.text and article.warnings == ()


# 6. ------------------------------------------------------------------------------------------


def test_deeply_nested_html_keeps_its_text(tmp_path: Path) -> None:
    path = tmp_path / "deep.html"
    body = "<div>" * 500 + _BODY + "</div>" * 500
    path.write_text(f"<html><head><title>Deep</title></head><body>{body}</body></html>")
    assert "Disney’s parks division" in load_article(path).text


# 7. ------------------------------------------------------------------------------------------


def test_the_articles_own_headline_is_no_echo(server: FakeServer) -> None:
    """The prompt names the article's title; a card that takes it (or a keyword from it) took
    it from the article, not from the instructions."""
    headline = "Turkana Villages Switch to Solar Microgrids"
    body = ARTICLE.split("\n", 2)[2]
    assert headline not in body
    keywords = ["Turkana Villages", "Kenya", "solar microgrids", "mobile money", "battery storage"]
    server.play(reply(card_json(title=headline, keywords=keywords)))
    extractor = make_extractor(server, mode="json_schema", strategy="single")
    try:
        result = extractor.extract(Article(text=body, title=headline))
    finally:
        extractor.close()
    assert result.card.title == headline and "Turkana Villages" in result.card.keywords
    assert len(server.requests) == 1 and result.usage.reasks == 0


# 8. ------------------------------------------------------------------------------------------


@pytest.mark.native("minilm")
def test_the_python_batch_api_links_closest_like_the_command(
    server: FakeServer, tmp_path: Path
) -> None:
    inputs = distinct_articles(tmp_path / "in", 4)
    out = tmp_path / "results.jsonl"
    summary = extract_batch(
        [str(inputs)],
        out,
        BatchOptions(closest=2),
        base_url=server.base_url,
        model="fake-model",
        mode="json_schema",
    )
    assert summary.counts["done"] == 4 and summary.closest is not None
    for record in read_jsonl(out):
        assert len(record["card"]["closest"]) == 2


def test_a_bad_closest_floor_is_refused_before_anything_is_sent(
    server: FakeServer, tmp_path: Path
) -> None:
    inputs = distinct_articles(tmp_path / "in", 2)
    args = _args(server, inputs, "-o", tmp_path / "r.jsonl")
    args[args.index("--closest") + 1] = "3"
    assert main([*args, "--closest-floor", "3"]) == 2
    assert server.requests == []
    with pytest.raises(ConfigError, match="closest_floor"):
        BatchOptions(closest_floor=-2)


# 9. ------------------------------------------------------------------------------------------


def test_eval_extract_writes_the_batch_records(server: FakeServer, tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text(ARTICLE)
    (tmp_path / "bad.txt").write_text(ARTICLE.replace("Kenyan", "Ugandan"))
    gold = (ROOT / "seeds" / "000_45ba7780239e8c00.txt").read_text()
    manifest = tmp_path / "manifest.jsonl"
    with manifest.open("w") as handle:
        for name in ("good", "bad"):
            (tmp_path / f"{name}_gold.txt").write_text(gold)
            entry = {"id": name, "gold": f"{name}_gold.txt", "article": f"{name}.txt"}
            handle.write(json.dumps(entry) + "\n")
    server.play(lambda body: reply("not json" if "Ugandan" in json.dumps(body) else card_json()))
    out = tmp_path / "run"
    args = ["eval", "--gold", manifest, "--extract", "--out", out, "--scorer", "lexical"]
    more = ["--base-url", server.base_url, "--model", "fake-model", "--mode", "json_schema"]
    assert main([*map(str, args), *more]) == 0
    from extractor.core.record import FailureRecord, ResultRecord

    (done,) = [ResultRecord.parse(value) for value in read_jsonl(out / "results.jsonl")]
    (failed,) = [FailureRecord.model_validate(v) for v in read_jsonl(out / "results.errors.jsonl")]
    assert done.id == "good" and failed.id == "bad" and failed.attempts
    run = json.loads((out / "run.json").read_text())
    assert run["missing"] == ["bad"]


# 10. -----------------------------------------------------------------------------------------


def test_every_package_the_code_imports_is_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {
        re.split(r"[<>=!\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        for requirement in project["dependencies"]
        + [r for extra in project["optional-dependencies"].values() for r in extra]
    }
    distributions = importlib.metadata.packages_distributions()
    imported: set[str] = set()
    for path in (ROOT / "extractor").rglob("*.py"):
        for match in re.finditer(r"^\s*(?:from|import) ([a-zA-Z_][\w]*)", path.read_text(), re.M):
            imported.add(match.group(1))
    third_party = {
        name
        for name in imported - {"extractor"}
        if name in distributions and name not in sys.stdlib_module_names
    }
    missing = {
        name
        for name in third_party
        if not {d.lower().replace("_", "-") for d in distributions[name]} & declared
    }
    assert third_party >= {"httpx2", "anyio", "openai", "lxml"}
    assert missing == set()
