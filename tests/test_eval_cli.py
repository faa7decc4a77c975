"""`extractor eval` and `extractor calibrate` end to end, as a user runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from extractor.cli import main
from extractor.core.card import SignalCard
from extractor.core.record import FailureRecord, ResultRecord
from extractor.evaluate.calibrate import calibrate, load_pairs
from extractor.evaluate.similarity import THRESHOLDS, make_similarity
from tests.fakeserver import ARTICLE, SIGNALS, FakeServer, card_dict, card_json, cells, reply

pytestmark = pytest.mark.native("minilm")

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
MANIFEST = ROOT / "evals" / "manifest.jsonl"
CALIBRATION = ROOT / "evals" / "calibration"


@pytest.fixture
def gold(tmp_path: Path) -> Path:
    """Three gold cards, copied so tests can make predictions from them."""
    folder = tmp_path / "gold"
    folder.mkdir()
    for path in sorted(SEEDS.glob("*.txt"))[:3]:
        shutil.copy(path, folder / path.name)
    return folder


def _degraded(gold: Path, out: Path, rows_dropped: int) -> Path:
    out.mkdir(parents=True)
    for path in gold.iterdir():
        card = SignalCard.from_markdown(path.read_text())
        card = card.model_copy(update={"signals": card.signals[rows_dropped:]})
        (out / path.name).write_text(card.to_markdown())
    return out


def _run(*args: str | Path) -> int:
    return main(["eval", *map(str, args)])


def test_gold_against_itself_scores_one_and_writes_every_file(
    gold: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert _run("--gold", gold, "--pred", gold, "--out", out) == 0
    for name in ("run.json", "samples.jsonl", "report.md", "report.html"):
        assert (out / name).is_file(), name
    run = json.loads((out / "run.json").read_text())
    assert run["aggregate"] == pytest.approx(1.0)
    assert set(run["fields"]) == {"title", "summary", "keywords", "themes", "signals"}
    assert all(v == pytest.approx(1.0) for v in run["fields"].values())
    assert run["metric_backend"] == "all-MiniLM-L6-v2-int8"
    assert run["threshold"] == THRESHOLDS["all-MiniLM-L6-v2-int8"]
    assert run["documents"] == 3 and run["missing"] == []
    assert "git_commit" in run and "prompt_version" in run and "model" in run
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [s["id"] for s in samples] == sorted(p.stem for p in gold.iterdir())
    assert all(s["alignments"]["signals"] for s in samples)
    assert "aggregate" in capsys.readouterr().out


def test_a_worse_run_fails_against_the_baseline(
    gold: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run("--gold", gold, "--pred", gold, "--out", tmp_path / "base") == 0
    worse = _degraded(gold, tmp_path / "worse", rows_dropped=2)
    capsys.readouterr()
    code = _run(
        "--gold", gold, "--pred", worse, "--out", tmp_path / "new", "--baseline", tmp_path / "base"
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "regression" in out and "signals" in out
    run = json.loads((tmp_path / "new" / "run.json").read_text())
    assert run["comparison"]["fields"]["signals"]["delta"] < 0
    assert run["comparison"]["fields"]["signals"]["verdict"] == "worse"
    assert "signals" in run["comparison"]["regressions"]
    assert run["comparison"]["fields"]["title"]["verdict"] == "same"


def test_the_same_run_passes_against_its_baseline(gold: Path, tmp_path: Path) -> None:
    assert _run("--gold", gold, "--pred", gold, "--out", tmp_path / "base") == 0
    code = _run(
        "--gold", gold, "--pred", gold, "--out", tmp_path / "b", "--baseline", tmp_path / "base"
    )
    assert code == 0


def test_a_drop_within_tolerance_passes(gold: Path, tmp_path: Path) -> None:
    assert _run("--gold", gold, "--pred", gold, "--out", tmp_path / "base") == 0
    worse = _degraded(gold, tmp_path / "worse", rows_dropped=1)
    args = ["--gold", gold, "--pred", worse, "--baseline", tmp_path / "base"]
    assert _run(*args, "--out", tmp_path / "strict") == 1
    assert _run(*args, "--out", tmp_path / "loose", "--tolerance", "0.5") == 0


def test_results_jsonl_with_failures_and_a_torn_line(gold: Path, tmp_path: Path) -> None:
    ids = sorted(p.stem for p in gold.iterdir())
    card = SignalCard.from_markdown((gold / f"{ids[0]}.txt").read_text())
    done = ResultRecord(
        id=ids[0], key="k0", reference="r0", source="a", card=card, model="m", prompt_version="v1"
    )
    failed = FailureRecord(id=ids[1], key="k1", source="b", error="gave up", kind="ExtractionError")
    results = tmp_path / "results.jsonl"
    results.write_text(done.to_json() + "\n" + '{"id": "' + ids[2] + '", "card": {"title": "cut')
    (tmp_path / "results.errors.jsonl").write_text(failed.to_json() + "\n")
    out = tmp_path / "run"
    assert _run("--gold", gold, "--pred", results, "--out", out) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["model"] == "m" and run["prompt_version"] == "v1"
    assert run["missing"] == ids[1:]
    assert run["aggregate"] == pytest.approx(1 / 3, abs=1e-3)
    lines = (out / "samples.jsonl").read_text().splitlines()
    samples = {s["id"]: s for s in map(json.loads, lines)}
    assert samples[ids[1]]["error"] == "ExtractionError: gave up"


def test_an_unreadable_prediction_scores_zero_with_its_reason(gold: Path, tmp_path: Path) -> None:
    pred = tmp_path / "pred"
    shutil.copytree(gold, pred)
    broken = sorted(pred.iterdir())[0]
    broken.write_text("not a card at all\n")
    out = tmp_path / "run"
    assert _run("--gold", gold, "--pred", pred, "--out", out) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["missing"] == [broken.stem]
    sample = json.loads((out / "samples.jsonl").read_text().splitlines()[0])
    assert "not a seed-format card" in sample["error"]


def test_the_lexical_fallback_is_flagged_in_every_report(gold: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert _run("--gold", gold, "--pred", gold, "--out", out, "--scorer", "lexical") == 0
    run = json.loads((out / "run.json").read_text())
    assert run["semantic"] is False and run["metric_backend"] == "lexical-wratio"
    assert any("lexical fallback" in w for w in run["warnings"])
    assert "lexical fallback" in (out / "report.md").read_text()
    assert "lexical fallback" in (out / "report.html").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gold", "nowhere", "--pred", "x"], "neither a folder"),
        (["--gold", "{gold}", "--pred", "nowhere"], "neither a folder"),
        (["--gold", "{gold}", "--pred", "{gold}", "--threshold", "2"], "--threshold"),
        (["--gold", "{gold}", "--pred", "{gold}", "--scorer", "endpoint"], "embeddings"),
        (["--gold", "{gold}", "--pred", "{gold}", "--tolerance", "-1"], "tolerance"),
        (["--gold", "{gold}", "--pred", "{gold}", "--baseline", "{gold}"], "samples.jsonl"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    gold: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    filled = [a.replace("{gold}", str(gold)) for a in args]
    assert _run(*filled, "--out", tmp_path / "run") == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_an_empty_gold_folder_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert _run("--gold", tmp_path / "empty", "--pred", tmp_path, "--out", tmp_path / "o") == 2


@pytest.fixture
def solar_manifest(tmp_path: Path) -> Path:
    """One gold document whose article the fake server's card was written for."""
    (tmp_path / "solar.txt").write_text(ARTICLE)
    card = SignalCard.model_validate({**card_dict(), "signals": [cells(r) for r in SIGNALS]})
    (tmp_path / "solar_gold.txt").write_text(card.to_markdown())
    manifest = tmp_path / "manifest.jsonl"
    entry = {"id": "solar", "gold": "solar_gold.txt", "article": "solar.txt"}
    manifest.write_text(json.dumps(entry))
    return manifest


def test_extract_then_score(
    solar_manifest: Path, tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    server.play(reply(card_json()))
    out = tmp_path / "run"
    code = _run(
        "--gold", solar_manifest, "--extract", "--out", out,
        "--base-url", server.base_url, "--model", "fake-model", "--mode", "json_schema",
    )  # fmt: skip
    assert code == 0
    run = json.loads((out / "run.json").read_text())
    assert run["aggregate"] == pytest.approx(1.0)
    assert run["config"]["model"] == "fake-model" and run["config"]["extract"] is True
    assert run["model"] == "fake-model" and run["prompt_version"]
    assert (out / "predictions" / "solar.txt").is_file()
    result = json.loads((out / "results.jsonl").read_text())
    assert result["id"] == "solar" and result["usage"]["requests"] == 1
    assert ARTICLE.split("\n")[2][:40] in server.requests[0].user_text


def test_extract_then_score_records_a_failed_article_and_goes_on(
    solar_manifest: Path, tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    server.play(reply("this is not json"))
    out = tmp_path / "run"
    code = _run(
        "--gold", solar_manifest, "--extract", "--out", out,
        "--base-url", server.base_url, "--model", "fake-model", "--mode", "json_schema",
    )  # fmt: skip
    assert code == 0
    run = json.loads((out / "run.json").read_text())
    assert run["missing"] == ["solar"] and run["aggregate"] == 0.0
    assert not (out / "results.jsonl").read_text()
    failure = json.loads((out / "results.errors.jsonl").read_text())
    assert failure["id"] == "solar" and failure["kind"] == "ExtractionError"
    sample = json.loads((out / "samples.jsonl").read_text())
    assert sample["error"].startswith("ExtractionError: no valid card")


def test_the_judge_averages_its_samples_and_is_recorded(
    solar_manifest: Path, tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    gold_card = solar_manifest.parent / "solar_gold.txt"
    pred = tmp_path / "pred"
    pred.mkdir()
    shutil.copy(gold_card, pred / "solar.txt")
    server.play(
        [
            reply('{"score": 5, "unsupported": []}'),
            reply('{"score": 3, "unsupported": ["Somalia"]}'),
            reply("no idea"),
            reply('{"score": 4, "unsupported": []}'),
        ]
    )
    out = tmp_path / "run"
    code = _run(
        "--gold", solar_manifest, "--pred", pred, "--out", out, "--judge",
        "--judge-base-url", server.base_url, "--judge-model", "judge-model",
    )  # fmt: skip
    assert code == 0
    assert len(server.requests) == 3  # the default, and the minimum, is three samples
    sample = json.loads((out / "samples.jsonl").read_text())
    assert sample["judge"]["model"] == "judge-model"
    assert sample["judge"]["score"] == pytest.approx(((5 + 3) / 2 - 1) / 4)
    assert [s["score"] for s in sample["judge"]["samples"]] == [5.0, 3.0, None]
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["judge_model"] == "judge-model"
    assert run["judge"]["mean"] == pytest.approx(0.75)
    body = server.requests[0].body
    assert body["temperature"] > 0 and ARTICLE.split("\n")[2][:40] in body["messages"][0]["content"]


def test_the_endpoint_scorer_uses_embeddings_with_retries(
    gold: Path, tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    server.embedding_failures = 1
    out = tmp_path / "run"
    code = _run(
        "--gold", gold, "--pred", gold, "--out", out, "--scorer", "endpoint",
        "--embeddings-base-url", server.base_url, "--embeddings-model", "embed-small",
    )  # fmt: skip
    assert code == 0
    run = json.loads((out / "run.json").read_text())
    assert run["metric_backend"] == "endpoint:embed-small"
    assert run["aggregate"] == pytest.approx(1.0)
    paths = [r.path for r in server.requests]
    assert paths.count("/v1/embeddings") >= 2  # the 503, then the retry


def test_committed_calibration_matches_the_thresholds_in_code() -> None:
    pairs = load_pairs(CALIBRATION / "pairs.jsonl")
    assert len(pairs) >= 100
    for scorer in ("minilm", "lexical"):
        similarity = make_similarity(scorer)
        committed = json.loads((CALIBRATION / f"{similarity.name}.json").read_text())
        assert committed == calibrate(pairs, similarity)
        assert THRESHOLDS[similarity.name] == committed["threshold"]
    minilm = json.loads((CALIBRATION / "all-MiniLM-L6-v2-int8.json").read_text())
    lexical = json.loads((CALIBRATION / "lexical-wratio.json").read_text())
    assert minilm["auc"] > lexical["auc"]


def test_calibrate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pairs = tmp_path / "pairs.jsonl"
    shutil.copy(CALIBRATION / "pairs.jsonl", pairs)
    assert main(["calibrate", str(pairs), "--scorer", "lexical"]) == 0
    written = json.loads((tmp_path / "lexical-wratio.json").read_text())
    assert 0.5 < written["auc"] <= 1.0 and "threshold" in written
    assert "AUC" in capsys.readouterr().out
    assert main(["calibrate", str(tmp_path / "missing.jsonl")]) == 2
