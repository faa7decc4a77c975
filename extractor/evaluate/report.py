"""Human-readable eval reports beside run.json: report.md for pull requests and CI logs, and
report.html, one self-contained page (inline CSS and SVG, no scripts, nothing fetched) to see
which fields and documents a run got wrong and why. Cards quote untrusted articles and model
output, so every such string reaches the page through jinja2's autoescape; Python computes
only numbers, labels and colours."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from extractor.evaluate.metrics import COLUMNS, FIELDS

_SCORES = ("aggregate", *FIELDS)
_TEMPLATES = Path(__file__).parent / "templates"
_COLUMN_LABELS = dict(
    zip(COLUMNS, ("Signal", "Change", "10y horizon", "Driving force"), strict=True)
)
# Field chart geometry, in SVG user units.
_LABEL_WIDTH, _PLOT_WIDTH, _ROW_HEIGHT, _TOP = 96, 520, 34, 30


def write_reports(
    out: Path,
    summary: dict[str, Any],
    samples: list[dict[str, Any]],
    comparison: dict[str, Any] | None = None,
) -> None:
    """Write out/report.md and out/report.html for one run (and its baseline comparison)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(_markdown(summary, samples, comparison), encoding="utf-8")
    (out / "report.html").write_text(_html(summary, samples, comparison), encoding="utf-8")


def _num(value: float) -> str:
    return f"{value:.3f}"


def _signed(value: float) -> str:
    return f"{value:+.3f}"


def _interval(low: float, high: float, fmt: str = "{:.3f}") -> str:
    return f"[{fmt.format(low)}, {fmt.format(high)}]"


def _p_value(value: float) -> str:
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _intervals(summary: dict[str, Any]) -> list[tuple[str, dict[str, float]]]:
    """(field, {mean, low, high}) with the aggregate first."""
    return [("aggregate", summary["aggregate_ci"])] + [
        (name, summary["fields_ci"][name]) for name in FIELDS
    ]


def _doc_scores(sample: dict[str, Any]) -> list[float]:
    return [float(sample["aggregate"])] + [float(sample["fields"][name]) for name in FIELDS]


def _metadata(summary: dict[str, Any]) -> list[tuple[str, str]]:
    missing = summary["missing"]
    documents = f"{summary['documents']} ({summary['scored']} scored, {len(missing)} missing"
    documents += f": {', '.join(missing)})" if missing else ")"
    kind = "semantic" if summary["semantic"] else "lexical"
    meta = [
        ("Model", summary["model"] or "unknown"),
        ("Prompt version", summary["prompt_version"] or "unknown"),
        ("Metric backend", f"{summary['metric_backend']} ({kind})"),
        ("Match threshold", f"{summary['threshold']:g}"),
        ("Git commit", summary["git_commit"] or "unknown"),
        ("Documents", documents),
    ]
    judge = summary["judge"]
    if judge:
        judged = f"{_num(judge['mean'])} {_interval(judge['low'], judge['high'])}"
        meta.append(("LLM judge", judged))
    if summary["config"]:
        meta.append(("Config", ", ".join(f"{k}={v}" for k, v in summary["config"].items())))
    meta.append(("Created", f"{summary['created']} in {summary['seconds']:g} s"))
    return meta


# --- report.md ---


def _md(text: object) -> str:
    """One table-safe line: newlines folded to spaces, pipes escaped, and HTML tags made
    inert (markdown viewers render raw HTML)."""
    line = " ".join(str(text).split()).replace("&", "&amp;")
    return line.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


def _markdown(
    summary: dict[str, Any], samples: list[dict[str, Any]], comparison: dict[str, Any] | None
) -> str:
    lines = [f"# Eval report: {_md(summary['model'] or 'unknown model')}", ""]
    if summary["warnings"]:
        lines += [f"> **Warning:** {_md(warning)}" for warning in summary["warnings"]] + [""]
    lines += [f"- **{label}:** {_md(value)}" for label, value in _metadata(summary)] + [""]

    lines += ["## Scores", ""]
    weights = summary["weights"]
    lines += _md_table(
        ["field", "weight", "mean", "95% CI"],
        [
            [
                name,
                f"{weights[name]:g}" if name in weights else "",
                _num(ci["mean"]),
                _interval(ci["low"], ci["high"]),
            ]
            for name, ci in _intervals(summary)
        ],
    )
    if summary["secondary"]:
        lines += ["### Secondary metrics", ""]
        lines += _md_table(
            ["metric", "mean"], [[name, _num(v)] for name, v in summary["secondary"].items()]
        )

    lines += ["### Reference-free (each card against its own article, no gold card)", ""]
    lines += _md_table(
        ["metric", "mean", "95% CI", "documents"], [list(row) for row in _reference_free(summary)]
    )

    lines += ["## Documents", ""]
    lines += _md_table(
        ["id", *_SCORES, "error"],
        [
            [sample["id"], *(_num(v) for v in _doc_scores(sample)), sample["error"] or ""]
            for sample in samples
        ],
    )
    if comparison is not None:
        lines += _markdown_comparison(comparison)
    return "\n".join(lines)


def _reference_free(summary: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """grounded_rate: share of signal rows the article supports; unsupported_name_rate: share
    of the card's names the article never says. A figure a card cannot have is left out."""
    rows = []
    for name, ci in (summary.get("reference_free_ci") or {}).items():
        if ci is None:
            rows.append((name, "n/a", "", "0"))
        else:
            rows.append(
                (name, _num(ci["mean"]), _interval(ci["low"], ci["high"]), str(ci["documents"]))
            )
    return rows


def _differences(
    what: str, differences: dict[str, dict[str, Any]], regressions: list[str]
) -> list[str]:
    return _md_table(
        [what, "delta", "95% CI", "p-value", "verdict", "documents"],
        [
            [
                name,
                _signed(d["delta"]),
                _interval(d["low"], d["high"], "{:+.3f}"),
                _p_value(d["p_value"]),
                d["verdict"] + (" (regression)" if name in regressions else ""),
                str(d["documents"]),
            ]
            for name, d in differences.items()
        ],
    )


def _markdown_comparison(comparison: dict[str, Any]) -> list[str]:
    regressions = comparison["regressions"]
    lines = [
        f"## Against baseline {_md(comparison['baseline'])}",
        "",
        f"Tolerance {comparison['tolerance']:g}. Regressions: "
        + (f"**{', '.join(regressions)}**" if regressions else "none"),
        "",
    ]
    lines += _differences("field", comparison["fields"], regressions)
    if comparison.get("reference_free"):
        lines += ["### Reference-free, against the baseline (reported, not a gate)", ""]
        lines += _differences("metric", comparison["reference_free"], [])
    lines += ["### Per-document deltas", ""]
    lines += _md_table(
        ["id", *_SCORES],
        [
            [doc["id"], _signed(doc["aggregate"]), *(_signed(doc["fields"][n]) for n in FIELDS)]
            for doc in comparison["documents"]
        ],
    )
    for label, ids in (
        ("Only in this run", comparison["only_here"]),
        ("Only in the baseline", comparison["only_baseline"]),
    ):
        if ids:
            lines += [f"{label}: {_md(', '.join(ids))}", ""]
    return lines


# --- report.html ---


def _html(
    summary: dict[str, Any], samples: list[dict[str, Any]], comparison: dict[str, Any] | None
) -> str:
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html.j2").render(
        model=summary["model"] or "unknown model",
        metadata=_metadata(summary),
        warnings=summary["warnings"],
        chart=_field_chart(summary, comparison),
        secondary=[(name, _num(v)) for name, v in summary["secondary"].items()],
        reference_free=_reference_free(summary),
        scores=_SCORES,
        documents=[_document(i, sample) for i, sample in enumerate(samples)],
        comparison=_comparison(comparison) if comparison is not None else None,
    )


def _colour(score: float) -> str:
    """Red (0) through amber to green (1), light enough for dark text on top."""
    hue = round(120 * min(max(score, 0.0), 1.0))
    return f"hsl({hue}, 62%, 80%)"


def _field_chart(summary: dict[str, Any], comparison: dict[str, Any] | None) -> dict[str, Any]:
    def x(value: float) -> float:
        return round(_LABEL_WIDTH + _PLOT_WIDTH * min(max(value, 0.0), 1.0), 1)

    regressions = set(comparison["regressions"]) if comparison else set()
    rows = []
    for index, (name, ci) in enumerate(_intervals(summary)):
        y = _TOP + index * _ROW_HEIGHT
        row: dict[str, Any] = {
            "name": name,
            "y": y,
            "mid": y + _ROW_HEIGHT / 2,
            "width": round(x(ci["mean"]) - _LABEL_WIDTH, 1),
            "low": x(ci["low"]),
            "high": x(ci["high"]),
            "value": _num(ci["mean"]),
            "ci": _interval(ci["low"], ci["high"], "{:.2f}"),
            "delta": None,
        }
        diff = comparison["fields"].get(name) if comparison else None
        if diff:
            row["delta"] = {
                "text": f"{_signed(diff['delta'])} {diff['verdict']}",
                "baseline": x(ci["mean"] - diff["delta"]),
                "verdict": diff["verdict"],
                "regression": name in regressions,
            }
        rows.append(row)
    value_x = _LABEL_WIDTH + _PLOT_WIDTH + 12
    return {
        "rows": rows,
        "x0": _LABEL_WIDTH,
        "ticks": [(x(t), f"{t:g}") for t in (0, 0.25, 0.5, 0.75, 1)],
        "value_x": value_x,
        "delta_x": value_x + 150,
        "width": value_x + (320 if comparison else 150),
        "height": _TOP + len(rows) * _ROW_HEIGHT + 8,
        "comparison": comparison is not None,
    }


def _pair(alignment: dict[str, Any]) -> dict[str, Any]:
    """An aligned (gold, predicted) pair with how it scored: matched, below threshold, or
    one-sided (a gold item the model missed, or a predicted item with no gold partner)."""
    if alignment["gold"] is None:
        state, label, hint = "pred-only", "extra", "predicted, with no gold partner"
    elif alignment["pred"] is None:
        state, label, hint = "gold-only", "missed", "gold, missing from the prediction"
    elif alignment["matched"]:
        state, label, hint = "match", _num(alignment["similarity"]), "matched"
    else:
        state, label = "below", _num(alignment["similarity"])
        hint = "paired, but below the match threshold"
    columns = alignment.get("columns") if state in ("match", "below") else None
    return {
        "gold": alignment["gold"],
        "pred": alignment["pred"],
        "state": state,
        "label": label,
        "hint": hint,
        "columns": [(_COLUMN_LABELS[c], _num(v)) for c, v in columns.items()] if columns else [],
    }


def _unaligned(pred: dict[str, Any] | None, gold: dict[str, Any]) -> dict[str, Any]:
    """Alignments for a document without a scored prediction: every side stands alone."""

    def one_sided(name: str) -> list[dict[str, Any]]:
        golds = [{"gold": g, "pred": None, "matched": False} for g in gold[name]]
        preds = [{"gold": None, "pred": p, "matched": False} for p in (pred or {}).get(name, [])]
        return golds + preds

    return {name: one_sided(name) for name in ("keywords", "themes", "signals")}


def _document(index: int, sample: dict[str, Any]) -> dict[str, Any]:
    pred, gold = sample["pred"], sample["gold"]
    alignments = sample["alignments"] or _unaligned(pred, gold)
    judge = sample["judge"]
    scores = dict(zip(_SCORES, _doc_scores(sample), strict=True))
    return {
        "anchor": f"doc-{index}",
        "id": sample["id"],
        "missing": pred is None,
        "error": sample["error"],
        "cells": [
            {"name": name, "value": f"{v:.2f}", "colour": _colour(v)} for name, v in scores.items()
        ],
        "aggregate": _num(scores["aggregate"]),
        "aggregate_colour": _colour(scores["aggregate"]),
        "judge": None
        if not judge or judge.get("score") is None
        else {"score": _num(judge["score"]), "model": judge.get("model") or ""},
        "texts": [
            {
                "name": name,
                "gold": gold[name],
                "pred": pred[name] if pred else None,
                "score": _num(scores[name]),
                "colour": _colour(scores[name]),
            }
            for name in ("title", "summary")
        ],
        "signals": [_pair(a) for a in alignments["signals"]],
        "keywords": [_pair(a) for a in alignments["keywords"]],
        "themes": [_pair(a) for a in alignments["themes"]],
        "columns": list(_COLUMN_LABELS.items()),
    }


def _comparison(comparison: dict[str, Any]) -> dict[str, Any]:
    regressions = comparison["regressions"]

    def delta(value: float) -> dict[str, str]:
        return {"text": _signed(value), "sign": "up" if value > 0 else "down" if value else "zero"}

    return {
        "baseline": comparison["baseline"],
        "tolerance": f"{comparison['tolerance']:g}",
        "regressions": regressions,
        "fields": [
            {
                "name": name,
                "delta": delta(d["delta"]),
                "ci": _interval(d["low"], d["high"], "{:+.3f}"),
                "p_value": _p_value(d["p_value"]),
                "verdict": d["verdict"],
                "documents": d["documents"],
                "regression": name in regressions,
            }
            for name, d in comparison["fields"].items()
        ],
        "reference_free": [
            {
                "name": name,
                "delta": delta(d["delta"]),
                "ci": _interval(d["low"], d["high"], "{:+.3f}"),
                "p_value": _p_value(d["p_value"]),
                "verdict": d["verdict"],
                "documents": d["documents"],
            }
            for name, d in (comparison.get("reference_free") or {}).items()
        ],
        "documents": [
            {
                "id": doc["id"],
                "deltas": [delta(doc["aggregate"])] + [delta(doc["fields"][n]) for n in FIELDS],
            }
            for doc in comparison["documents"]
        ],
        "only_here": comparison["only_here"],
        "only_baseline": comparison["only_baseline"],
    }
