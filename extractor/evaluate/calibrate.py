"""Measure how well a similarity backend separates labelled phrase pairs, and pick its match
threshold: the one with the best balanced accuracy, rounded to 0.05 so that it does not chase
noise in a small fixture."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from extractor.core.errors import InputError
from extractor.evaluate.similarity import Similarity


def load_pairs(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise InputError(f"{path} not found")
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                pair = json.loads(line)
                label = int(pair["label"])
                pairs.append({**pair, "a": str(pair["a"]), "b": str(pair["b"]), "label": label})
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
                raise InputError(f"{path}:{number}: bad pair: {err}") from err
    if not {p["label"] for p in pairs} >= {0, 1}:
        raise InputError(f"{path} needs both matching (1) and non-matching (0) pairs")
    return pairs


def auc(scores: list[float], labels: list[int]) -> float:
    """The probability that a random matching pair outscores a random non-matching one."""
    positives = [s for s, y in zip(scores, labels, strict=True) if y]
    negatives = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not positives or not negatives:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def _rates(scores: list[float], labels: list[int], threshold: float) -> tuple[float, float]:
    hits = [s >= threshold for s in scores]
    positives = sum(labels)
    negatives = len(labels) - positives
    tpr = sum(h and y for h, y in zip(hits, labels, strict=True)) / positives
    fpr = sum(h and not y for h, y in zip(hits, labels, strict=True)) / negatives
    return tpr, fpr


def calibrate(pairs: list[dict[str, Any]], similarity: Similarity) -> dict[str, Any]:
    similarity.prepare([p["a"] for p in pairs] + [p["b"] for p in pairs])
    scores = [float(similarity.matrix([p["a"]], [p["b"]])[0, 0]) for p in pairs]
    labels = [p["label"] for p in pairs]
    grid = [round(float(t), 2) for t in np.arange(0.05, 1.0, 0.05)]
    balanced = {t: (lambda r: (r[0] + 1 - r[1]) / 2)(_rates(scores, labels, t)) for t in grid}
    # Ties go to the higher threshold: a false match inflates scores, a miss only deflates them.
    threshold = max(grid, key=lambda t: (round(balanced[t], 6), t))
    tpr, fpr = _rates(scores, labels, threshold)
    kinds = sorted({str(p.get("kind", "all")) for p in pairs})
    per_kind = {}
    for kind in kinds:
        chosen = [i for i, p in enumerate(pairs) if str(p.get("kind", "all")) == kind]
        per_kind[kind] = round(auc([scores[i] for i in chosen], [labels[i] for i in chosen]), 4)
    hard = [i for i, p in enumerate(pairs) if p["label"] == 1 or p.get("hard")]
    return {
        "backend": similarity.name,
        "pairs": len(pairs),
        "auc": round(auc(scores, labels), 4),
        "auc_hard_negatives": round(auc([scores[i] for i in hard], [labels[i] for i in hard]), 4),
        "auc_by_kind": per_kind,
        "threshold": float(threshold),
        "balanced_accuracy": round(balanced[threshold], 4),
        "true_positive_rate": round(tpr, 4),
        "false_positive_rate": round(fpr, 4),
    }
