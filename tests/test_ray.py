"""The Ray Data engine on a local Ray (`ray.init(num_cpus=2)`, once per session) against the
fake server: every article exactly once with a card, in the results layout; reruns free."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extractor.cli import main
from extractor.core.record import ResultRecord
from tests.fakeserver import FakeServer, card_json, distinct_text, extractor_options, read_jsonl

ARTICLES = 60


@pytest.fixture(scope="session")
def local_ray() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("EXTRACTOR_CACHE", str(tmp_path / "cache.sqlite"))


def _rows(n: int) -> list[dict[str, Any]]:
    return [{"id": f"a{i:03d}", "text": distinct_text(i)} for i in range(n)]


def _manifest(path: Path, n: int) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in _rows(n)), encoding="utf-8")
    return path


def test_sixty_articles_each_exactly_once_with_a_card_in_the_results_layout(
    local_ray: Any, server: FakeServer, tmp_path: Path
) -> None:
    from extractor.ray import extract_dataset

    server.play(card_json())
    dataset = local_ray.data.from_items(_rows(ARTICLES))
    options = extractor_options(server, mode="json_schema", strategy="single")
    rows = extract_dataset(dataset, cache=tmp_path / "cache.sqlite", **options).take_all()
    assert sorted(row["id"] for row in rows) == [f"a{i:03d}" for i in range(ARTICLES)]
    assert all(row["failure"] is None for row in rows)
    records = [ResultRecord.parse(row) for row in rows]
    assert all(record.card.title and record.card.signals for record in records)
    assert {record.reference for record in records} and len({r.key for r in records}) == ARTICLES
    fields = set(ResultRecord.model_fields)
    assert all(set(row) == fields | {"failure"} for row in rows)
    assert len(server.requests) == ARTICLES


def test_a_rerun_with_the_same_output_sends_no_request_for_what_is_done(
    local_ray: Any, server: FakeServer, tmp_path: Path
) -> None:
    server.play(card_json())
    manifest = _manifest(tmp_path / "in.jsonl", ARTICLES)
    out = tmp_path / "results.jsonl"
    command = [
        "batch", str(manifest), "-o", str(out), "--engine", "ray", "--base-url", server.base_url,
        "--model", "fake-model", "--mode", "json_schema", "--strategy", "single", "--quiet",
        "--closest", "0", "--no-cache",
    ]  # fmt: skip
    assert main(command) == 0
    first = read_jsonl(out)
    assert sorted(line["id"] for line in first) == [f"a{i:03d}" for i in range(ARTICLES)]
    assert all("failure" not in line and line["card"]["signals"] for line in first)
    assert len(server.requests) == ARTICLES
    assert main(command) == 0
    assert len(server.requests) == ARTICLES  # no request the second time
    assert read_jsonl(out) == first


def test_a_failed_article_goes_to_the_errors_file(
    local_ray: Any, server: FakeServer, tmp_path: Path
) -> None:
    from extractor.ray import extract_dataset

    server.play("not json at all")
    dataset = local_ray.data.from_items(_rows(2))
    options = extractor_options(server, mode="json_schema", strategy="single", max_reasks=0)
    rows = extract_dataset(dataset, use_cache=False, **options).take_all()
    assert [row["card"] for row in rows] == [None, None]
    assert all("not valid JSON" in row["failure"]["error"] for row in rows)


def test_importing_extractor_and_the_batch_command_never_imports_ray(
    server: FakeServer, tmp_path: Path
) -> None:
    """A plain install has no Ray: nothing outside `extractor.ray` may import it."""
    articles = tmp_path / "in.jsonl"
    articles.write_text(json.dumps({"id": "x", "text": "nothing"}) + "\n", encoding="utf-8")
    script = f"""
import contextlib, io, sys
import extractor
from extractor.cli import main
for argv in (["--help"], ["batch", "--help"]):
    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):
        main(argv)
main(["batch", {str(articles)!r}, "-o", {str(tmp_path / "out.jsonl")!r}, "--no-cache",
      "--closest", "0", "--quiet", "--base-url", {server.base_url!r}, "--model", "fake-model"])
print(sorted(name for name in sys.modules if name == "ray" or name.startswith("ray.")))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
        env={**os.environ, "OPENAI_API_KEY": "sk-test"},
    )  # fmt: skip
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stderr
    assert server.requests  # the batch really ran
