"""The `extractor` command, run in-process against the fake server: exit codes 0 / 1 / 2,
one-line errors without tracebacks unless --debug, and output that round-trips."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from extractor.cli import main
from extractor.core.card import SignalCard
from tests.fakeserver import (
    ARTICLE,
    ARTICLE_TITLE,
    KEYWORDS,
    THEMES,
    TITLE,
    FakeServer,
    card_json,
    section_answers,
    server_error,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "EXTRACTOR_MODEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def article(tmp_path: Path) -> Path:
    path = tmp_path / "article.txt"
    path.write_text(ARTICLE, encoding="utf-8")
    return path


def _endpoint(server: FakeServer) -> list[str]:
    return ["--base-url", server.base_url, "--model", "fake-model"]


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("extractor: error:")
    assert "Traceback" not in err
    return lines[0]


def test_extract_prints_a_seed_format_card(
    server: FakeServer, article: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.play(card_json())
    code = main(["extract", str(article), *_endpoint(server)])
    out, err = capsys.readouterr()
    assert code == 0
    assert err == ""
    card = SignalCard.from_markdown(out)
    assert card.title == TITLE
    assert card.keywords == KEYWORDS
    assert card.themes == THEMES
    assert len(card.signals) == 3
    assert out.startswith(f"# __{TITLE}__")
    body = server.bodies[0]
    assert body["model"] == "fake-model"
    assert body["response_format"]["type"] == "json_schema"  # the default for a remote endpoint


def test_extract_json_format(
    server: FakeServer, article: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.play(card_json())
    code = main(["extract", str(article), *_endpoint(server), "--format", "json"])
    out, _ = capsys.readouterr()
    assert code == 0
    data = json.loads(out)
    assert {"card", "usage", "model", "prompt_version"} <= set(data)
    assert data["card"]["title"] == TITLE
    assert data["card"]["keywords"] == KEYWORDS
    assert data["model"] == "fake-model"
    assert data["usage"]["requests"] == 1
    assert data["usage"]["prompt_tokens"] == 10
    assert isinstance(data["prompt_version"], str) and data["prompt_version"]


def test_extract_writes_the_output_file(
    server: FakeServer, article: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.play(card_json())
    target = tmp_path / "card.md"
    code = main(["extract", str(article), *_endpoint(server), "-o", str(target)])
    out, _ = capsys.readouterr()
    assert code == 0
    assert out == ""
    assert SignalCard.from_markdown(target.read_text(encoding="utf-8")).title == TITLE


def test_extract_passes_mode_and_strategy(
    server: FakeServer, article: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.play(section_answers())
    code = main(
        [
            "extract",
            str(article),
            *_endpoint(server),
            "--mode",
            "json_object",
            "--strategy",
            "sectioned",
        ]
    )
    out, _ = capsys.readouterr()
    assert code == 0
    assert len(server.requests) == 6
    assert all(b["response_format"]["type"] == "json_object" for b in server.bodies)
    assert SignalCard.from_markdown(out).title == ARTICLE_TITLE  # the article's headline


def test_extract_reads_stdin(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server.play(card_json())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(ARTICLE.encode("utf-8"))))
    code = main(["extract", "-", *_endpoint(server)])
    out, _ = capsys.readouterr()
    assert code == 0
    assert ARTICLE in server.requests[0].user_text
    assert SignalCard.from_markdown(out).title == TITLE


def test_repairs_are_reported_as_warnings(
    server: FakeServer, article: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.play(card_json(keywords=[*KEYWORDS, "kenya"]))
    code = main(["extract", str(article), *_endpoint(server)])
    out, err = capsys.readouterr()
    assert code == 0
    assert SignalCard.from_markdown(out).keywords == KEYWORDS
    assert err.startswith("warning: keywords:")


def test_a_missing_file_is_a_usage_error(
    server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["extract", str(tmp_path / "nope.txt"), *_endpoint(server)])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert "no such file" in _one_error_line(err)
    assert server.requests == []


def test_an_empty_file_is_a_usage_error(
    server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\n", encoding="utf-8")
    code = main(["extract", str(empty), *_endpoint(server)])
    _, err = capsys.readouterr()
    assert code == 2
    assert "empty" in _one_error_line(err)
    assert server.requests == []


def test_a_model_without_an_endpoint_is_a_usage_error(
    article: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["extract", str(article), "--model", "gpt-4o"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "needs an endpoint" in _one_error_line(err)


def test_an_endpoint_that_always_fails_exits_1(
    server: FakeServer, article: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # retry-after-ms keeps the CLI's default backoff from sleeping for real.
    server.play(server_error(500, retry_after_ms=1))
    code = main(["extract", str(article), *_endpoint(server)])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    line = _one_error_line(err)
    assert "HTTP 500" in line
    assert len(server.requests) == 4  # the CLI's default: 3 retries


def test_a_model_answering_garbage_exits_1(
    server: FakeServer, article: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.play("I am a teapot, not a JSON emitter.")
    code = main(["extract", str(article), *_endpoint(server)])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    line = _one_error_line(err)
    assert "extraction failed" in line
    assert "not valid JSON" in line
    assert len(server.requests) == 3  # the default: two re-asks


def test_debug_shows_the_traceback_and_every_attempt(
    server: FakeServer, article: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.play(["garbage one", "garbage two", "garbage three"])
    code = main(["extract", str(article), *_endpoint(server), "--debug"])
    _, err = capsys.readouterr()
    assert code == 1
    assert "Traceback" in err
    assert "ExtractionError" in err
    for number, raw in enumerate(["garbage one", "garbage two", "garbage three"], start=1):
        assert f"attempt {number} [card]:" in err
        assert f"raw: {raw!r}" in err
    assert err.strip().splitlines()[-1].startswith("extractor: error: extraction failed")


def test_an_unknown_mode_is_rejected_by_argparse(
    article: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["extract", str(article), "--mode", "xml", "--base-url", "http://127.0.0.1:9/v1"])
    _, err = capsys.readouterr()
    assert caught.value.code == 2
    assert "invalid choice" in err
    assert "Traceback" not in err


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 2
    assert "extract" in capsys.readouterr().err


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "extractor"
    assert script.is_file(), script
    done = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "usage: extractor" in done.stdout
    assert "extract" in done.stdout
