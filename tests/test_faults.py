"""Faults of the endpoint and the network, through the library and the `extractor` command:
a fault followed by a good answer still gives a valid card (a transport retry or a re-ask
recovers it); a fault that persists gives exit 1 and one line on stderr, never a traceback.
A batch over a steadily faulty endpoint loses no article and records none twice."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import tenacity

from extractor.backends.client import RetryPolicy
from extractor.cli import main
from extractor.core.card import ANY_COUNT, SignalCard
from extractor.core.errors import ExtractionError
from extractor.pipeline import extract as extract_module
from tests.fakeserver import (
    ARTICLE,
    TALLY,
    TITLE,
    FakeServer,
    Step,
    card_json,
    completion_body,
    connection_reset,
    content_not_text,
    cut_answer,
    distinct_articles,
    extract_from,
    hang,
    invalid_json,
    long_answer,
    malformed,
    missing_choices,
    rate_limited,
    read_jsonl,
    refusal,
    reply,
    reset_mid_body,
    server_error,
    status,
    usage_as_text,
)

ROOT = Path(__file__).resolve().parent.parent
ENDPOINT = ("--model", "fake-model", "--mode", "json_schema", "--strategy", "single")
TIMEOUT = 1.0  # seconds per request, for the `hang` fault


def _usage_as_words() -> Step:
    step = usage_as_text()
    step.body["usage"] = {"prompt_tokens": "ten", "completion_tokens": "five", "total_tokens": "x"}
    return step


def _message_missing() -> Step:
    step = content_not_text()
    step.body["choices"][0]["message"] = None
    return step


@dataclass(frozen=True)
class Fault:
    name: str
    make: Callable[[], Step]
    recoverable: bool = True  # a good answer after it gives a card
    says: str = ""  # in the error when it persists


FAULTS = [
    Fault("rate_limited", lambda: rate_limited(retry_after_ms=5), says="HTTP 429"),
    Fault("server_error_500", lambda: server_error(500), says="HTTP 500"),
    Fault("server_error_503", lambda: server_error(503, retry_after_ms=5), says="HTTP 503"),
    Fault("hang", lambda: hang(seconds=30), says="APITimeoutError"),
    Fault("invalid_json", invalid_json, says="not valid JSON"),
    Fault("html_error_page", lambda: invalid_json(b"<html>502</html>", "text/html")),
    Fault("connection_reset", connection_reset, says="APIConnectionError"),
    Fault("reset_mid_body", reset_mid_body, says="APIConnectionError"),
    Fault("missing_choices", missing_choices, says="no list of choices"),
    Fault(
        "empty_choices",
        lambda: malformed({**completion_body(card_json()), "choices": []}),
        says="no valid card",
    ),
    Fault("body_not_an_object", lambda: malformed(["not", "a", "completion"])),
    Fault("content_a_number", lambda: content_not_text(42), says="not text"),
    Fault("content_an_object", lambda: content_not_text({"title": "x"}), says="not text"),
    Fault("message_missing", _message_missing, says="no message"),
    Fault("usage_as_words", _usage_as_words, says="not numbers"),
    Fault("cut_answer", cut_answer, says="cut off"),
    Fault("long_answer", long_answer, says="not valid JSON"),
    Fault("refusal", lambda: refusal("I can't help with that."), False, says="refused"),
    Fault("unauthorized", lambda: status(401, "invalid api key"), False, says="HTTP 401"),
]
# Not faults at all: a card must come from them on the first request.
HARMLESS = [("usage_as_numeric_text", usage_as_text)]


def _cases(recovering: bool) -> list[Any]:
    cases = []
    for fault in FAULTS:
        if recovering and not fault.recoverable:
            continue
        cases.append(pytest.param(fault, id=fault.name))
    return cases


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    for name in ("OPENAI_BASE_URL", "EXTRACTOR_MODEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fast_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command as shipped, minus the waiting: no backoff sleeps between retries (the
    number of retries is unchanged) and a 1 s request timeout instead of 120 s."""
    monkeypatch.setattr(
        extract_module,
        "RetryPolicy",
        functools.partial(RetryPolicy, backoff=tenacity.wait_none(), max_wait=0.05),
    )
    real = extract_module.resolve

    def resolve(*args: Any, **kwargs: Any) -> Any:
        endpoint = real(*args, **kwargs)
        return replace(endpoint, timeout=TIMEOUT)

    monkeypatch.setattr(extract_module, "resolve", resolve)


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def run_cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> Run:
    capsys.readouterr()
    code = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return Run(code, out, err)


def _article(tmp_path: Path) -> Path:
    path = tmp_path / "article.txt"
    path.write_text(ARTICLE, encoding="utf-8")
    return path


def assert_failed_one_line(run: Run, says: str = "") -> str:
    assert run.code == 1, (run.code, run.err)
    assert run.out == ""
    assert "Traceback" not in run.err
    lines = run.err.split("\n")
    assert len(lines) == 2 and lines[1] == "", run.err
    assert lines[0].startswith("extractor: error: extraction failed: "), lines[0]
    assert says in lines[0]
    assert len(lines[0]) < 1000  # never the raw answer, however long it was
    return lines[0]


# --------------------------------------------------------------------------------------------
# The library.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", _cases(recovering=True))
def test_a_fault_then_a_good_answer_gives_a_card(fault: Fault, server: FakeServer) -> None:
    server.play([fault.make(), reply(card_json())])
    result = extract_from(server, max_retries=2, timeout=TIMEOUT)
    assert result.card.title == TITLE
    assert len(server.requests) == 2
    assert result.usage.transport_retries + result.usage.reasks == 1
    SignalCard.model_validate(result.card.model_dump())


@pytest.mark.parametrize("fault", _cases(recovering=False))
def test_a_persisting_fault_is_an_extraction_error(fault: Fault, server: FakeServer) -> None:
    server.play(fault.make())
    with pytest.raises(ExtractionError) as caught:
        extract_from(server, max_retries=2, timeout=TIMEOUT)
    message = str(caught.value)
    assert message and "\n" not in message
    assert fault.says in message
    assert 1 <= len(server.requests) <= 3  # bounded: 1 + 2 retries, or 1 + 2 re-asks


@pytest.mark.parametrize(("name", "make"), HARMLESS, ids=[name for name, _ in HARMLESS])
def test_harmless_oddities_give_a_card_at_once(
    name: str, make: Callable[[], Step], server: FakeServer
) -> None:
    server.play(make())
    result = extract_from(server)
    assert result.card.title == TITLE
    assert len(server.requests) == 1
    assert result.usage.total_tokens == 15


# --------------------------------------------------------------------------------------------
# The command.
# --------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("fast_cli")
@pytest.mark.parametrize("fault", _cases(recovering=True))
def test_the_command_recovers_from_a_fault(
    fault: Fault, server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.play([fault.make(), reply(card_json())])
    run = run_cli(capsys, "extract", _article(tmp_path), "--base-url", server.base_url, *ENDPOINT)
    assert run.code == 0, run.err
    assert "Traceback" not in run.err
    assert all(line.startswith("warning: ") for line in run.err.splitlines()), run.err
    card = SignalCard.from_markdown(run.out)
    assert card.title == TITLE and card.to_markdown() == run.out
    assert len(server.requests) == 2


@pytest.mark.usefixtures("fast_cli")
@pytest.mark.parametrize("fault", _cases(recovering=False))
def test_the_command_reports_a_persisting_fault_in_one_line(
    fault: Fault, server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.play(fault.make())
    article = _article(tmp_path)
    run = run_cli(capsys, "extract", article, "--base-url", server.base_url, *ENDPOINT)
    assert_failed_one_line(run, fault.says)
    # The same run with --debug may say more, but still exits 1 and never prints a card.
    debug = run_cli(capsys, "extract", article, "--base-url", server.base_url, *ENDPOINT, "--debug")
    assert debug.code == 1 and debug.out == ""
    assert debug.err.splitlines()[-1] == run.err.strip()


@pytest.mark.usefixtures("fast_cli")
def test_an_error_message_with_line_breaks_stays_one_line(
    server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.play(status(401, "bad key\nsecond line of the message\n  third"))
    run = run_cli(capsys, "extract", _article(tmp_path), "--base-url", server.base_url, *ENDPOINT)
    assert_failed_one_line(run, "HTTP 401")
    assert "bad key second line of the message third" in run.err


@pytest.mark.parametrize(
    ("step", "says"),
    [
        (refusal("No."), "extractor: error: extraction failed: the model refused (card): No.\n"),
        (missing_choices(), "extractor: error: extraction failed: the endpoint failed (BadR"),
        (cut_answer(), "extractor: error: extraction failed: no valid card after 3 "),
    ],
    ids=["refusal", "missing_choices", "cut_answer"],
)
def test_a_real_process_fails_in_one_line(
    step: Step, says: str, server: FakeServer, tmp_path: Path
) -> None:
    """Outside pytest's capture, with the installed entry point's code path."""
    server.play(step)
    command = [sys.executable, "-m", "extractor.cli", "extract", str(_article(tmp_path))]
    done = subprocess.run(
        [*command, "--base-url", server.base_url, *ENDPOINT],
        capture_output=True,
        text=True,
        env={**os.environ, "OPENAI_API_KEY": "sk-test"},
        cwd=ROOT,
        timeout=120,
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith(says)
    assert done.stderr.count("\n") == 1 and done.stderr.endswith("\n")


# --------------------------------------------------------------------------------------------
# A batch against a steadily faulty endpoint.
# --------------------------------------------------------------------------------------------

ARTICLES = 50
_NUMBER = re.compile(r"Headline number (\d+) about")

# Articles that fail whatever happens, and the reason recorded for each.
PERSISTENT: dict[int, tuple[Callable[[], Step], str]] = {
    7: (lambda: refusal("I won't."), "refused"),
    17: (lambda: status(401, "invalid api key"), "HTTP 401"),
    27: (cut_answer, "cut off"),
    37: (lambda: server_error(500), "HTTP 500"),
    47: (long_answer, "not valid JSON"),
}
# Every fifth request fails once, cycling through these; they all recover.
TRANSIENT: list[tuple[str, Callable[[], Step]]] = [
    ("rate_limited", lambda: rate_limited(retry_after_ms=5)),
    ("server_error", lambda: server_error(503)),
    ("hang", lambda: hang(seconds=30)),
    ("invalid_json", invalid_json),
    ("connection_reset", connection_reset),
    ("reset_mid_body", reset_mid_body),
    ("missing_choices", missing_choices),
    ("cut_answer", cut_answer),
    ("long_answer", long_answer),
    ("usage_as_text", usage_as_text),
]


class SteadyFaults:
    """A script: every fifth request of the articles that can succeed (n % 5 == 4, counting
    from 0) is a fault, the next kind of TRANSIENT in turn. When that request is the retry of
    a fault, the fault goes to the next request instead, so every fault is followed by a good
    answer for its article. PERSISTENT articles always fail."""

    def __init__(self) -> None:
        self.requests = 0  # of articles that can succeed
        self.persistent_requests = 0
        self.injected: list[str] = []
        self._pending = False
        self._faulted: set[int] = set()

    def __call__(self, body: dict[str, Any]) -> Step | str:
        # The fake server calls its script under its lock: one request at a time.
        found = _NUMBER.search(json.dumps(body.get("messages", [])))
        assert found, "every request carries its article"
        article = int(found.group(1))
        if article in PERSISTENT:
            self.persistent_requests += 1
            return PERSISTENT[article][0]()
        self._pending |= self.requests % 5 == 4
        self.requests += 1
        if self._pending and article not in self._faulted:
            self._pending = False
            self._faulted.add(article)
            name, make = TRANSIENT[len(self.injected) % len(TRANSIENT)]
            self.injected.append(name)
            return make()
        self._faulted.discard(article)
        return card_json()


@pytest.mark.usefixtures("fast_cli")
@pytest.mark.parametrize("processes", ["0", "2"], ids=["one-process", "two-workers"])
def test_a_batch_over_a_faulty_endpoint_loses_nothing_and_repeats_nothing(
    server: FakeServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    processes: str,
) -> None:
    monkeypatch.setenv("EXTRACTOR_CACHE", str(tmp_path / "cache.sqlite"))
    inputs = distinct_articles(tmp_path / "in", ARTICLES)
    out, errors = tmp_path / "results.jsonl", tmp_path / "errors.jsonl"
    faults = SteadyFaults()
    server.play(faults)
    args = ["batch", inputs, "-o", out, "--errors", errors, "--base-url", server.base_url]
    args += [*ENDPOINT, "--quiet", "--closest", "0", "--concurrency", "6"]
    args += ["--processes", processes]
    run = run_cli(capsys, *args)
    assert run.code == 1, run.err  # some articles failed
    assert "Traceback" not in run.err

    every = {f"story-{i:04d}.txt" for i in range(ARTICLES)}
    failing = {f"story-{i:04d}.txt": why for i, (_, why) in PERSISTENT.items()}
    done = read_jsonl(out)
    failed = read_jsonl(errors)
    done_ids = [line["id"] for line in done]
    failed_ids = [line["id"] for line in failed]
    assert len(done_ids) == len(set(done_ids))  # none twice
    assert len(failed_ids) == len(set(failed_ids))
    assert set(done_ids) | set(failed_ids) == every  # none lost
    assert not set(done_ids) & set(failed_ids)
    assert (len(done_ids), len(failed_ids)) == (ARTICLES - len(PERSISTENT), len(PERSISTENT))
    assert set(failed_ids) == set(failing)
    TALLY["articles in faulty batches: lost 0, twice 0"] += len(every)
    for line in done:
        SignalCard.model_validate(line["card"], context={"limits": ANY_COUNT})
        assert line["card"]["title"] == TITLE
    for line in failed:
        assert line["error"] and "\n" not in line["error"]
        assert failing[line["id"]] in line["error"], line["error"]
    # The fault rate was what it claims: one request in five, of every kind.
    assert len(faults.injected) >= len(TRANSIENT)
    assert set(faults.injected) == {name for name, _ in TRANSIENT}
    assert 0.15 <= len(faults.injected) / faults.requests <= 0.2, faults.injected
    assert f"{ARTICLES - len(PERSISTENT)} done," in run.err
    assert f" {len(PERSISTENT)} failed in " in run.err

    # A rerun against a healthy endpoint retries only the failures, and then all are done once.
    server.play(reply(card_json()))
    before = len(server.requests)
    assert run_cli(capsys, *args).code == 0
    assert len(server.requests) - before == len(PERSISTENT)
    final = [line["id"] for line in read_jsonl(out)]
    assert sorted(final) == sorted(every)
    assert errors.read_text() == ""


@pytest.mark.usefixtures("fast_cli")
def test_a_wrong_typed_answer_in_a_batch_costs_one_article_not_the_run(
    server: FakeServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("EXTRACTOR_CACHE", str(tmp_path / "cache.sqlite"))
    inputs = distinct_articles(tmp_path / "in", 6)

    def script(body: dict[str, Any]) -> Step | str:
        found = _NUMBER.search(json.dumps(body["messages"]))
        return content_not_text(42) if found and found.group(1) == "3" else card_json()

    server.play(script)
    out, errors = tmp_path / "results.jsonl", tmp_path / "errors.jsonl"
    args = ["batch", inputs, "-o", out, "--errors", errors, "--base-url", server.base_url]
    run = run_cli(capsys, *args, *ENDPOINT, "--quiet", "--closest", "0")
    assert run.code == 1
    assert sorted(line["id"] for line in read_jsonl(out)) == [
        f"story-{i:04d}.txt" for i in range(6) if i != 3
    ]
    assert [line["id"] for line in read_jsonl(errors)] == ["story-0003.txt"]
