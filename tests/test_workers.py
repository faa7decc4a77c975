"""Batch runs whose extraction happens in worker processes (`BatchOptions.processes`): every
article once, in the workers and not in the run's process, the same records as one process
makes, and a worker that dies or a run cut short losing nothing."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from extractor.backends.throttle import Throttle
from extractor.batch import workers
from extractor.batch.run import Batch, BatchOptions, Outcome, extract_batch
from extractor.cli import main
from extractor.core.errors import ConfigError, ResultsInUseError
from extractor.core.result import ExtractionResult
from extractor.pipeline.extract import Extractor
from extractor.store.lock import RunLock
from tests.fakeserver import (
    FakeServer,
    bad_request,
    card_json,
    distinct_articles,
    fast_policy,
    rate_limited,
    read_jsonl,
    reply,
)

PID = "extracted in process "


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("EXTRACTOR_CACHE", str(tmp_path / "cache.sqlite"))


@pytest.fixture
def pids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each card names, in its warnings, the process that extracted it (a fork inherits it)."""
    real = Extractor.aextract

    async def aextract(self: Extractor, article: Any) -> ExtractionResult:
        result = await real(self, article)
        return replace(result, warnings=[*result.warnings, f"{PID}{os.getpid()}"])

    monkeypatch.setattr(Extractor, "aextract", aextract)


def _endpoint(server: FakeServer, **overrides: Any) -> dict[str, Any]:
    options = {
        "base_url": server.base_url,
        "api_key": "sk-test",
        "model": "fake-model",
        "mode": "json_schema",
        "strategy": "single",
        "retry_policy": fast_policy(3),
    }
    return {**options, **overrides}


def _pid(line: dict[str, Any]) -> int:
    return next(int(w.removeprefix(PID)) for w in line["warnings"] if w.startswith(PID))


def _comparable(line: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in line.items() if k not in ("seconds", "warnings")}


@pytest.mark.usefixtures("pids")
def test_two_workers_extract_every_article_once_and_as_one_process_would(
    server: FakeServer, tmp_path: Path
) -> None:
    inputs = [str(distinct_articles(tmp_path / "in", 60))]
    server.play(reply(card_json()))
    server.delay = 0.01  # so both workers hold articles at once
    two = extract_batch(
        inputs,
        tmp_path / "two.jsonl",
        BatchOptions(concurrency=8, processes=2, use_cache=False, closest=0),
        **_endpoint(server),
    )
    lines = read_jsonl(tmp_path / "two.jsonl")
    assert two.counts["done"] == 60 and two.counts["failed"] == 0
    assert sorted(line["id"] for line in lines) == [f"story-{i:04d}.txt" for i in range(60)]
    assert len(server.requests) == 60
    assert two.usage.requests == 60 and two.usage.total_tokens > 0
    makers = {_pid(line) for line in lines}
    assert len(makers) == 2 and os.getpid() not in makers

    one = extract_batch(
        inputs,
        tmp_path / "one.jsonl",
        BatchOptions(concurrency=8, processes=0, use_cache=False, closest=0),
        **_endpoint(server),
    )
    single = read_jsonl(tmp_path / "one.jsonl")
    assert {_pid(line) for line in single} == {os.getpid()}
    assert one.usage.as_dict() == two.usage.as_dict()
    by_id = {line["id"]: _comparable(line) for line in single}
    assert all(_comparable(line) == by_id[line["id"]] for line in lines)


@pytest.mark.usefixtures("pids")
def test_a_worker_that_dies_fails_only_what_it_held_and_a_rerun_does_it(
    server: FakeServer, tmp_path: Path
) -> None:
    inputs = [str(distinct_articles(tmp_path / "in", 40))]
    out, errors = tmp_path / "results.jsonl", tmp_path / "errors.jsonl"
    server.play(reply(card_json()))
    server.delay = 0.05
    options = BatchOptions(concurrency=8, processes=2, errors=errors, closest=0)
    killed: list[int] = []

    def on_outcome(outcome: Outcome) -> None:
        if not killed and outcome.status == "done":
            assert outcome.record is not None
            killed.append(_pid(outcome.record.model_dump()))
            os.kill(killed[0], 9)

    summary = extract_batch(inputs, out, options, on_outcome, **_endpoint(server))
    done, failed = read_jsonl(out), read_jsonl(errors)
    assert summary.counts["failed"] == len(failed) >= 1
    assert summary.counts["done"] == len(done) >= 20  # the other worker took the rest
    assert {line["id"] for line in done} | {line["id"] for line in failed} == {
        f"story-{i:04d}.txt" for i in range(40)
    }
    for line in failed:
        assert line["kind"] == "WorkerLost"
        assert line["error"] == "its worker process ended (exit code -9)"
    assert {_pid(line) for line in done[1:]} != {killed[0]}

    extract_batch(inputs, out, options, **_endpoint(server))
    assert sorted(line["id"] for line in read_jsonl(out)) == [
        f"story-{i:04d}.txt" for i in range(40)
    ]
    assert errors.read_text() == ""


@pytest.mark.usefixtures("pids")
def test_a_run_cut_short_stops_its_workers_at_once(server: FakeServer, tmp_path: Path) -> None:
    inputs = [str(distinct_articles(tmp_path / "in", 30))]
    server.play(reply(card_json()))
    server.delay = 0.2
    batch = Batch(
        inputs,
        tmp_path / "results.jsonl",
        BatchOptions(concurrency=8, processes=2, closest=0),
        **_endpoint(server),
    )
    seen: list[int] = []

    async def two_then_stop() -> None:
        outcomes = batch.outcomes()
        async for outcome in outcomes:
            assert outcome.record is not None
            seen.append(_pid(outcome.record.model_dump()))
            if len(seen) == 2:
                break
        await outcomes.aclose()

    asyncio.run(two_then_stop())
    for pid in seen:
        with pytest.raises(ProcessLookupError):  # gone and reaped, not left running
            os.kill(pid, 0)
    assert len(read_jsonl(tmp_path / "results.jsonl")) >= 2
    assert len(server.requests) < 30


def test_rate_limit_pauses_and_a_rejected_mode_are_reported_from_the_workers(
    server: FakeServer, tmp_path: Path
) -> None:
    inputs = [str(distinct_articles(tmp_path / "in", 12))]
    answers = iter([rate_limited(50)])

    def script(body: dict[str, Any]) -> Any:
        if body["response_format"]["type"] == "json_schema":
            return bad_request("unsupported response_format")
        return next(answers, reply(card_json()))

    server.play(script)
    summary = extract_batch(
        inputs,
        tmp_path / "results.jsonl",
        BatchOptions(concurrency=4, processes=2, use_cache=False, closest=0),
        **_endpoint(server, mode=None),
    )
    assert summary.counts["done"] == 12
    assert summary.rate_limit_pauses >= 1
    lowered = [w for w in summary.warnings if "rejected mode json_schema (HTTP 400)" in w]
    assert len(lowered) == 1  # each worker lowered it once; the run says so once


def test_rate_caps_and_requests_in_flight_are_shared_out_among_the_workers(
    server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    caps: list[tuple[float | None, float | None, int | None]] = []

    class Recording(Throttle):
        def __init__(
            self, rpm: float | None = None, tpm: float | None = None, in_flight: int | None = None
        ) -> None:
            caps.append((rpm, tpm, in_flight))
            super().__init__(rpm, tpm, in_flight)

    monkeypatch.setattr(workers, "Throttle", Recording)
    server.play(reply(card_json()))
    extract_batch(
        [str(distinct_articles(tmp_path / "in", 4))],
        tmp_path / "results.jsonl",
        BatchOptions(concurrency=5, processes=2, rpm=600, tpm=90_000, closest=0),
        **_endpoint(server),
    )
    assert caps == [(300.0, 45000.0, 3), (300.0, 45000.0, 2)]


def test_workers_hold_more_articles_but_never_more_requests_than_the_concurrency(
    server: FakeServer, tmp_path: Path
) -> None:
    server.play(reply(card_json()))
    server.delay = 0.05
    summary = extract_batch(
        [str(distinct_articles(tmp_path / "in", 40))],
        tmp_path / "results.jsonl",
        BatchOptions(concurrency=5, processes=2, use_cache=False, closest=0),
        **_endpoint(server),
    )
    assert summary.counts["done"] == 40
    assert server.peak_in_flight == 5  # the endpoint saw the run's concurrency, and no more


@pytest.mark.parametrize(
    ("cores", "threads", "concurrency", "expected"),
    [
        (2, 1, 8, 0),  # the default concurrency: one process keeps up
        (2, 1, 32, 2),
        (2, 1, 64, 2),  # never more than the cores
        (8, 1, 64, 4),
        (8, 3, 64, 0),  # other threads running: no fork
        (1, 1, 64, 0),
    ],
)
def test_the_default_worker_count(
    monkeypatch: pytest.MonkeyPatch, cores: int, threads: int, concurrency: int, expected: int
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    monkeypatch.setattr(threading, "active_count", lambda: threads)
    assert workers.default_count(concurrency) == expected


def test_workers_with_the_embedded_model_or_the_batch_api_are_a_config_error(
    tmp_path: Path, server: FakeServer
) -> None:
    with pytest.raises(ConfigError, match="processes must be 0 or more"):
        BatchOptions(processes=-1)
    with pytest.raises(ConfigError, match=r"processes \(3\) cannot exceed concurrency \(2\)"):
        BatchOptions(concurrency=2, processes=3)
    with pytest.raises(ConfigError, match="worker processes need an endpoint"):
        Batch(["x"], tmp_path / "r.jsonl", BatchOptions(processes=2), base_url="embedded")
    with pytest.raises(ConfigError, match="worker processes need an endpoint"):
        Batch(
            ["x"],
            tmp_path / "r.jsonl",
            BatchOptions(processes=2, batch_api=True),
            **_endpoint(server),
        )


def test_the_command_takes_processes(
    server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int | None] = []
    real = Batch.__init__

    def spy(self: Batch, *args: Any, **kwargs: Any) -> None:
        real(self, *args, **kwargs)
        seen.append(self.options.processes)

    monkeypatch.setattr(Batch, "__init__", spy)
    server.play(reply(card_json()))
    inputs = distinct_articles(tmp_path / "in", 3)
    args = ["batch", str(inputs), "-o", str(tmp_path / "r.jsonl"), "--base-url", server.base_url]
    args += ["--model", "fake-model", "--quiet", "--closest", "0", "--processes", "2"]
    assert main(args) == 0
    assert seen == [2]
    assert len(read_jsonl(tmp_path / "r.jsonl")) == 3


@pytest.mark.usefixtures("pids")
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc")
def test_no_worker_holds_the_runs_lock(server: FakeServer, tmp_path: Path) -> None:
    """Workers are forked before the run takes its lock, so a worker left answering after
    its run was killed cannot keep the next run out."""
    out = tmp_path / "results.jsonl"
    lock = str(out.with_name(out.name + ".lock"))
    server.play(reply(card_json()))
    server.delay = 0.02
    opened: dict[int, list[str]] = {}

    def on_outcome(outcome: Outcome) -> None:
        assert outcome.record is not None
        pid = _pid(outcome.record.model_dump())
        if pid not in opened:
            fds = Path(f"/proc/{pid}/fd")
            opened[pid] = [os.readlink(fd) for fd in fds.iterdir() if fd.is_symlink()]

    extract_batch(
        [str(distinct_articles(tmp_path / "in", 20))],
        out,
        BatchOptions(concurrency=8, processes=2, closest=0),
        on_outcome,
        **_endpoint(server),
    )
    assert len(opened) == 2
    assert all(lock not in files for files in opened.values())
    parent = [os.readlink(fd) for fd in Path("/proc/self/fd").iterdir() if fd.is_symlink()]
    assert lock not in parent  # released at the end


def test_a_run_refused_by_the_lock_leaves_no_worker(server: FakeServer, tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    with RunLock(out), pytest.raises(ResultsInUseError):
        extract_batch(
            [str(distinct_articles(tmp_path / "in", 3))],
            out,
            BatchOptions(concurrency=8, processes=2, closest=0),
            **_endpoint(server),
        )
    assert multiprocessing.active_children() == []
    assert server.requests == []
