"""`extractor batch` and `extract_batch` against the fake server: every article exactly once,
failures recorded with reasons, reruns and repeats free, rate limits slowing the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from extractor.batch.run import BatchOptions, extract_batch
from extractor.cli import main
from extractor.core.card import ANY_COUNT, SignalCard
from extractor.store.jsonl import repair
from tests.fakeserver import (
    ARTICLE,
    TALLY,
    FakeServer,
    Step,
    card_json,
    distinct_articles,
    fast_policy,
    invalid_json,
    rate_limited,
    read_jsonl,
    reply,
    server_error,
    truncated,
)

ROOT = Path(__file__).resolve().parent.parent


def _batch(server: FakeServer, *args: str | Path, **env: str) -> int:
    return main(
        [
            "batch",
            *map(str, args),
            "--base-url", server.base_url, "--model", "fake-model", "--mode", "json_schema",
            "--strategy", "single", "--quiet", "--closest", "0",
        ]
    )  # fmt: skip


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("EXTRACTOR_CACHE", str(tmp_path / "cache.sqlite"))


def test_a_folder_becomes_one_line_per_article(server: FakeServer, tmp_path: Path) -> None:
    inputs = distinct_articles(tmp_path / "in", 5)
    out = tmp_path / "results.jsonl"
    assert _batch(server, inputs, "-o", out) == 0
    lines = read_jsonl(out)
    assert sorted(line["id"] for line in lines) == [f"story-{i:04d}.txt" for i in range(5)]
    for line in lines:
        SignalCard.model_validate(line["card"], context={"limits": ANY_COUNT})
        assert line["model"] == "fake-model" and line["prompt_version"]
        assert line["usage"]["requests"] == 1 and line["seconds"] >= 0
        assert len(line["key"]) == 64 and len(line["reference"]) == 32
        assert line["cached"] is False and line["duplicate_of"] is None
    assert len(server.requests) == 5


def test_a_rerun_skips_what_is_done_and_a_new_output_reads_the_cache(
    server: FakeServer, tmp_path: Path
) -> None:
    inputs = distinct_articles(tmp_path / "in", 4)
    out = tmp_path / "results.jsonl"
    assert _batch(server, inputs, "-o", out) == 0
    assert _batch(server, inputs, "-o", out) == 0
    assert len(server.requests) == 4
    assert len(read_jsonl(out)) == 4
    other = tmp_path / "other.jsonl"
    assert _batch(server, inputs, "-o", other) == 0
    assert len(server.requests) == 4
    copies = read_jsonl(other)
    assert len(copies) == 4 and all(c["cached"] and c["usage"]["requests"] == 0 for c in copies)
    assert _batch(server, inputs, "-o", tmp_path / "fresh.jsonl", "--no-cache") == 0
    assert len(server.requests) == 8


def test_identical_articles_are_extracted_once(server: FakeServer, tmp_path: Path) -> None:
    inputs = distinct_articles(tmp_path / "in", 2)
    (inputs / "copy.txt").write_text((inputs / "story-0000.txt").read_text())
    out = tmp_path / "results.jsonl"
    assert _batch(server, inputs, "-o", out, "--no-cache") == 0
    lines = {line["id"]: line for line in read_jsonl(out)}
    assert len(lines) == 3 and len(server.requests) == 2
    copy, original = lines["copy.txt"], lines["story-0000.txt"]
    assert copy["card"]["title"] == original["card"]["title"]
    assert {copy["duplicate_of"], original["duplicate_of"]} == {None, "story-0000.txt"} or {
        copy["duplicate_of"],
        original["duplicate_of"],
    } == {None, "copy.txt"}


def test_the_same_story_reworded_is_flagged_not_extracted_twice(
    server: FakeServer, tmp_path: Path
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.txt").write_text(f"Outlet A headline\n\n{ARTICLE}")
    (inputs / "b.txt").write_text(f"Outlet B headline\n\n{ARTICLE}\n\nRead more at outlet B.")
    out = tmp_path / "results.jsonl"
    assert _batch(server, inputs, "-o", out, "--concurrency", "1") == 0
    lines = {line["id"]: line for line in read_jsonl(out)}
    assert len(server.requests) == 1
    assert lines["b.txt"]["duplicate_of"] == "a.txt"
    again = tmp_path / "again.jsonl"
    assert _batch(server, inputs, "-o", again, "--no-cache", "--extract-near-duplicates") == 0
    assert len(server.requests) == 3


def test_failures_go_to_the_errors_file_and_the_run_goes_on(
    server: FakeServer, tmp_path: Path
) -> None:
    inputs = distinct_articles(tmp_path / "in", 3)
    (inputs / "empty.txt").write_text("   \n")
    (inputs / "binary.txt").write_bytes(b"\x00\x01\x02binary")

    def script(body: dict[str, Any]) -> Step | str:
        text = json.dumps(body["messages"])
        return reply("not json at all") if "Headline number 1 " in text else reply(card_json())

    server.play(script)
    out = tmp_path / "results.jsonl"
    assert _batch(server, inputs, "-o", out) == 1
    assert sorted(line["id"] for line in read_jsonl(out)) == ["story-0000.txt", "story-0002.txt"]
    errors = {e["id"]: e for e in read_jsonl(tmp_path / "results.errors.jsonl")}
    assert set(errors) == {"story-0001.txt", "empty.txt", "binary.txt"}
    assert errors["story-0001.txt"]["kind"] == "ExtractionError"
    assert errors["story-0001.txt"]["attempts"][0]["raw"] == "not json at all"
    assert "empty" in errors["empty.txt"]["error"]
    assert "binary" in errors["binary.txt"]["error"]


def test_a_rerun_retries_failures_and_clears_them(server: FakeServer, tmp_path: Path) -> None:
    inputs = distinct_articles(tmp_path / "in", 2)
    server.play(reply("garbage"))
    out = tmp_path / "results.jsonl"
    errors = tmp_path / "errors.jsonl"
    assert _batch(server, inputs, "-o", out, "--errors", errors) == 1
    assert len(read_jsonl(errors)) == 2
    server.play(reply(card_json()))
    assert _batch(server, inputs, "-o", out, "--errors", errors) == 0
    assert len(read_jsonl(out)) == 2
    assert errors.read_text() == ""


def test_rate_limits_pause_the_whole_run(server: FakeServer, tmp_path: Path) -> None:
    inputs = distinct_articles(tmp_path / "in", 6)
    server.play([rate_limited(200), rate_limited(200), reply(card_json())])
    out = tmp_path / "results.jsonl"
    summary = extract_batch(
        [str(inputs)],
        out,
        BatchOptions(concurrency=6, use_cache=False),
        base_url=server.base_url,
        api_key="sk-test",
        model="fake-model",
        mode="json_schema",
        strategy="single",
        retry_policy=fast_policy(5),
    )
    assert summary.counts["done"] == 6
    assert summary.rate_limit_pauses >= 1
    assert summary.usage.transport_retries == 2
    assert len(read_jsonl(out)) == 6


def test_a_manifest_of_text_html_and_bad_lines(server: FakeServer, tmp_path: Path) -> None:
    manifest = tmp_path / "articles.jsonl"
    html = (
        "<html><head><title>Solar</title></head>"
        f"<body><article><p>{ARTICLE}</p></article></body></html>"
    )
    manifest.write_text(
        "\n".join(
            [
                json.dumps(
                    {"id": "t1", "text": ARTICLE, "title": "Given title", "date": "2024-01-02"}
                ),
                json.dumps({"id": "h1", "html": html, "url": "https://example.org/solar"}),
                json.dumps({"id": "bad", "title": "no text"}),
                "{not json",
                json.dumps({"id": "u1", "url": f"{server.url}/missing-page"}),
            ]
        )
    )
    out = tmp_path / "results.jsonl"
    assert _batch(server, manifest, "-o", out, "--no-cache", "--extract-near-duplicates") == 1
    lines = {line["id"]: line for line in read_jsonl(out)}
    assert set(lines) == {"t1", "h1"}
    assert lines["t1"]["article"]["title"] == "Given title"
    assert lines["t1"]["article"]["date"] == "2024-01-02"
    assert lines["h1"]["card"]["link"] == "https://example.org/solar"
    errors = {e["id"]: e["error"] for e in read_jsonl(tmp_path / "results.errors.jsonl")}
    assert "needs one of text, html or url" in errors["bad"]
    assert "not JSON" in errors["articles.jsonl:4"]
    assert "HTTP 404" in errors["u1"]


def test_a_file_of_urls_is_read_as_urls(server: FakeServer, tmp_path: Path) -> None:
    urls = tmp_path / "urls.txt"
    urls.write_text(f"# to read\n{server.url}/a\n\n{server.url}/b\n")
    out = tmp_path / "results.jsonl"
    assert _batch(server, urls, "-o", out) == 1
    errors = read_jsonl(tmp_path / "results.errors.jsonl")
    assert sorted(e["id"] for e in errors) == [f"{server.url}/a", f"{server.url}/b"]


def test_bad_usage_is_exit_2(server: FakeServer, tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    assert _batch(server, tmp_path / "nowhere", "-o", out) == 2
    assert _batch(server, tmp_path / "*.none", "-o", out) == 2
    assert _batch(server, tmp_path, "-o", out, "--concurrency", "0") == 2


def test_a_torn_last_line_is_repaired_on_resume(server: FakeServer, tmp_path: Path) -> None:
    inputs = distinct_articles(tmp_path / "in", 3)
    out = tmp_path / "results.jsonl"
    assert _batch(server, inputs, "-o", out) == 0
    text = out.read_text()
    out.write_text(text[: len(text) - 40])  # the last line cut mid-way, as by a crash
    assert _batch(server, inputs, "-o", out, "--no-cache") == 0
    lines = read_jsonl(out)
    assert sorted(line["id"] for line in lines) == [f"story-{i:04d}.txt" for i in range(3)]
    assert len(server.requests) == 4


def test_repair(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}\n{"c"')
    assert repair(path) == 4
    assert path.read_bytes() == b'{"a": 1}\n{"b": 2}\n'
    path.write_bytes(b'{"c"')
    assert repair(path) == 4 and path.read_bytes() == b""
    assert repair(tmp_path / "missing.jsonl") == 0


def _faulty(body: dict[str, Any], counter: list[int]) -> Step | str:
    """Roughly one request in five fails: 429, 5xx or a truncated or invalid answer."""
    counter[0] += 1
    n = counter[0]
    faults = [rate_limited(20), server_error(503), truncated(card_json()[:60]), invalid_json()]
    return faults[n % 4] if n % 5 == 0 else reply(card_json())


@pytest.mark.parametrize("kill_at", [3, 20])
def test_kill_9_and_rerun_ends_with_every_article_exactly_once(
    server: FakeServer, tmp_path: Path, kill_at: int
) -> None:
    n = 40
    inputs = distinct_articles(tmp_path / "in", n)
    counter = [0]
    server.play(lambda body: _faulty(body, counter))
    server.delay = 0.05
    out = tmp_path / "results.jsonl"
    command = [
        sys.executable, "-m", "extractor.cli", "batch", str(inputs), "-o", str(out),
        "--base-url", server.base_url, "--model", "fake-model", "--mode", "json_schema",
        "--strategy", "single", "--concurrency", "4", "--quiet", "--closest", "0",
    ]  # fmt: skip
    env = {**os.environ, "OPENAI_API_KEY": "sk-test"}
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if out.exists() and out.read_text().count("\n") >= kill_at:
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)  # mid-run, with requests in flight
    process.wait()
    partial = out.read_text()
    assert kill_at <= partial.count("\n") < n
    for _ in range(3):  # faults can fail an article for good in one run; reruns retry it
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert "Traceback" not in done.stderr
        if done.returncode == 0:
            break
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert text.endswith("\n")
    lines = [json.loads(line) for line in text.splitlines()]  # no broken line
    ids = [line["id"] for line in lines]
    assert sorted(ids) == [f"story-{i:04d}.txt" for i in range(n)]  # every one, once
    assert text.startswith(partial[: partial.rfind("\n") + 1])  # nothing done was lost
    TALLY["kill -9 trials"] += 1
    TALLY["articles checked after a kill: lost 0, twice 0"] += n
