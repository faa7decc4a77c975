"""report.md and report.html from a small lexical-scored run: the numbers and warnings are
there, article and model text cannot inject markup, and the page works in a real browser
(system Chromium through Playwright) without errors, network or executed payloads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from extractor.core.card import ANY_COUNT, SignalCard
from extractor.evaluate import run as run_module
from extractor.evaluate.compare import compare
from extractor.evaluate.dataset import GoldDoc, Prediction
from extractor.evaluate.metrics import FIELDS
from extractor.evaluate.report import write_reports
from extractor.evaluate.run import LEXICAL_WARNING, EvalRun, score_all
from extractor.evaluate.similarity import LexicalSimilarity
from tests.browser import visit

pytestmark = pytest.mark.native("minilm")

SEEDS = sorted((Path(__file__).parent.parent / "seeds").glob("*.txt"))[:4]
SCRIPT_KEYWORD = "<script>window.__pwned = 1</script>"
SCRIPT_CELL = "<script>window.__pwned = 2</script> signal"
IMG_TITLE = '<img src="x" onerror="window.__pwned = 3"> title'
MISSING_ERROR = "invalid card: bad | table\nsecond line"


def _card(gold: SignalCard, **changes: Any) -> SignalCard:
    return SignalCard.model_validate(
        {**gold.model_dump(), **changes}, context={"limits": ANY_COUNT}
    )


def _run(predictions: dict[str, Prediction], gold: list[GoldDoc]) -> EvalRun:
    return score_all(gold, predictions, LexicalSimilarity(), {"gold": "seeds"})


@pytest.fixture(autouse=True)
def _no_git(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_module, "_git_commit", lambda: "0123abcd")


@pytest.fixture
def gold() -> list[GoldDoc]:
    return [GoldDoc(path.stem, SignalCard.from_markdown(path.read_text())) for path in SEEDS]


@pytest.fixture
def current(gold: list[GoldDoc]) -> EvalRun:
    """Four documents: markup injected into the predicted title, a keyword and a signal cell;
    a perfect prediction; a missing one; and a partial one (items dropped)."""
    hostile, perfect, missing, partial = gold
    rows = [r.model_dump() for r in hostile.card.signals]
    rows[0]["signal"] = SCRIPT_CELL
    predictions = {
        hostile.id: Prediction(
            _card(
                hostile.card,
                title=IMG_TITLE,
                keywords=[*hostile.card.keywords[:-1], SCRIPT_KEYWORD],
                signals=rows,
            ),
            model="model-a",
            prompt_version="v1",
        ),
        perfect.id: Prediction(perfect.card, model="model-a", prompt_version="v1"),
        missing.id: Prediction(None, MISSING_ERROR),
        partial.id: Prediction(
            _card(
                partial.card,
                keywords=partial.card.keywords[::2],
                themes=partial.card.themes[:1],
                signals=[r.model_dump() for r in partial.card.signals[:-1]],
            ),
            model="model-a",
            prompt_version="v1",
        ),
    }
    run = _run(predictions, gold)
    run.docs[1].judge = {"score": 0.8, "samples": [0.8, 0.8], "model": "judge-model"}
    return run


@pytest.fixture
def comparison(gold: list[GoldDoc], current: EvalRun, tmp_path: Path) -> dict[str, Any]:
    """Against a baseline that predicted every gold card exactly."""
    baseline = tmp_path / "baseline"
    _run({doc.id: Prediction(doc.card) for doc in gold}, gold).write(baseline)
    return compare([d.sample() for d in current.docs], baseline).as_dict()


def _write(
    out: Path, run: EvalRun, comparison: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]], str, str]:
    summary, samples = run.summary(), [d.sample() for d in run.docs]
    write_reports(out, summary, samples, comparison)
    md = (out / "report.md").read_text(encoding="utf-8")
    html = (out / "report.html").read_text(encoding="utf-8")
    return summary, samples, md, html


def test_both_reports_are_written(tmp_path: Path, current: EvalRun) -> None:
    _write(tmp_path / "new" / "dir", current)
    assert (tmp_path / "new" / "dir" / "report.md").stat().st_size > 0
    assert (tmp_path / "new" / "dir" / "report.html").stat().st_size > 0


def test_markdown_has_metadata_means_and_warnings(tmp_path: Path, current: EvalRun) -> None:
    summary, samples, md, _ = _write(tmp_path, current)
    assert LEXICAL_WARNING in summary["warnings"]
    for warning in summary["warnings"]:
        assert f"> **Warning:** {warning}" in md
    for text in ("model-a", "v1", "lexical-wratio", "0.45", "0123abcd", "judge"):
        assert text in md
    assert f"4 (3 scored, 1 missing: {samples[2]['id']})" in md
    means = {"aggregate": summary["aggregate"], **summary["fields"]}
    assert set(means) == {"aggregate", *FIELDS}
    for name, mean in means.items():
        ci = summary["aggregate_ci"] if name == "aggregate" else summary["fields_ci"][name]
        assert f"| {name} |" in md
        assert f"{mean:.3f} | [{ci['low']:.3f}, {ci['high']:.3f}]" in md
    for name, value in summary["secondary"].items():
        assert f"| {name} | {value:.3f} |" in md
    for sample in samples:
        assert f"| {sample['id']} | {sample['aggregate']:.3f} |" in md


def test_markdown_tables_escape_pipes_and_newlines(tmp_path: Path, current: EvalRun) -> None:
    _, samples, md, _ = _write(tmp_path, current)
    row = next(line for line in md.splitlines() if line.startswith(f"| {samples[2]['id']} "))
    assert row.endswith("| invalid card: bad \\| table second line |")
    header = next(line for line in md.splitlines() if line.startswith("| id |"))
    unescaped = re.compile(r"(?<!\\)\|")
    assert len(unescaped.findall(row)) == len(unescaped.findall(header))


def test_markdown_makes_model_text_inert(tmp_path: Path, current: EvalRun) -> None:
    summary, samples = current.summary(), [d.sample() for d in current.docs]
    summary["model"] = SCRIPT_KEYWORD
    samples[2]["error"] = IMG_TITLE
    write_reports(tmp_path, summary, samples)
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in md
    assert "&lt;img src=" in md
    assert "<script" not in md and "<img" not in md


def test_html_escapes_article_and_model_text(tmp_path: Path, current: EvalRun) -> None:
    _, _, _, html = _write(tmp_path, current)
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
    assert "&lt;script&gt;window.__pwned = 2&lt;/script&gt; signal" in html
    assert "&lt;img src=&#34;x&#34; onerror=&#34;window.__pwned = 3&#34;&gt; title" in html
    assert "<script" not in html.lower()  # the page itself needs no script at all
    assert "<img" not in html.lower()


def test_html_is_self_contained(tmp_path: Path, current: EvalRun) -> None:
    _, _, _, html = _write(tmp_path, current)
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", html)
    assert references
    assert all(ref.startswith(("#", "data:")) for ref in references), references
    assert "@import" not in html
    assert "url(" not in html


def test_html_has_charts_and_a_row_per_document(tmp_path: Path, current: EvalRun) -> None:
    summary, samples, _, html = _write(tmp_path, current)
    assert '<svg id="field-chart"' in html
    assert html.count('<rect class="bar"') == 1 + len(FIELDS)
    assert '<table id="heatmap">' in html
    assert html.count('<tr class="doc-row') == len(samples)
    assert html.count('<details class="doc"') == len(samples)
    for warning in summary["warnings"]:
        assert warning in html
    assert "judge 0.800 (judge-model)" in html


def test_html_pairs_gold_and_predicted_items(tmp_path: Path, current: EvalRun) -> None:
    _, samples, _, html = _write(tmp_path, current)
    partial = samples[3]["alignments"]
    missed = sum(a["pred"] is None for a in partial["keywords"])
    assert missed > 0
    states = re.findall(r'<tr class="(match|below|gold-only|pred-only)">', html)
    assert "match" in states
    assert "gold-only" in states
    assert "below" in states  # the injected signal cell pushes its row under the threshold


def test_missing_prediction_renders(tmp_path: Path, current: EvalRun) -> None:
    _, samples, md, html = _write(tmp_path, current)
    missing = samples[2]
    assert missing["pred"] is None
    assert missing["alignments"] is None
    assert '<tr class="doc-row missing">' in html
    assert "no prediction" in html
    assert "invalid card: bad | table\nsecond line" in html
    for keyword in missing["gold"]["keywords"]:
        assert keyword in html
    assert f"| {missing['id']} | 0.000 | 0.000 |" in md


def test_comparison_only_when_given(
    tmp_path: Path, current: EvalRun, comparison: dict[str, Any]
) -> None:
    _, _, md, html = _write(tmp_path / "plain", current)
    assert "Against baseline" not in md
    assert 'id="comparison"' not in html
    assert "vs baseline" not in html

    _, _, md, html = _write(tmp_path / "compared", current, comparison)
    assert f"## Against baseline {comparison['baseline']}" in md
    assert 'id="comparison"' in html
    for name, diff in comparison["fields"].items():
        assert f"| {name} | {diff['delta']:+.3f} |" in md
        assert diff["verdict"] in html
    for doc in comparison["documents"]:
        assert f"| {doc['id']} | {doc['aggregate']:+.3f} |" in md


def test_regressions_are_highlighted(
    tmp_path: Path, current: EvalRun, comparison: dict[str, Any]
) -> None:
    comparison["fields"]["signals"].update(delta=-0.2, low=-0.3, high=-0.1, verdict="worse")
    comparison["regressions"] = ["signals"]
    _, _, md, html = _write(tmp_path, current, comparison)
    assert "Regressions: **signals**" in md
    assert "| worse (regression) |" in md
    assert "Regressions: signals" in html
    assert html.count('<tr class="regression">') == 1
    assert "▼ regression" in html

    comparison["regressions"] = []
    _, _, md, html = _write(tmp_path, current, comparison)
    assert "Regressions: none" in md
    assert "No regressions" in html


def test_report_in_a_browser(tmp_path: Path, current: EvalRun, comparison: dict[str, Any]) -> None:
    _, samples, _, _ = _write(tmp_path, current, comparison)
    report = tmp_path / "report.html"
    with visit(report) as seen:
        page = seen.page

        bars = page.locator("#field-chart rect.bar")
        assert bars.count() == 1 + len(FIELDS)
        for i in range(bars.count()):
            box = bars.nth(i).bounding_box()
            assert box is not None
            assert box["width"] > 0
            assert box["height"] > 0
        assert page.locator("#heatmap tbody tr").count() == len(samples)
        assert page.locator("#heatmap tr.missing").get_by_text("no prediction").is_visible()

        page.locator("details.doc > summary").first.click()
        for payload in (SCRIPT_KEYWORD, SCRIPT_CELL, IMG_TITLE):
            assert page.get_by_text(payload, exact=True).first.is_visible(), payload
        assert page.evaluate("typeof window.__pwned") == "undefined"

        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
    assert seen.errors == []
    assert seen.offsite == []
    assert shot.stat().st_size > 0
    assert shot.read_bytes().startswith(b"\x89PNG")
