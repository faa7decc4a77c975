"""A run against a baseline run, document by document. A field regresses when its mean drops
by more than the tolerance and the paired bootstrap says the drop is real (its 95% interval
lies below zero), so CI fails on a worse prompt, not on a noisy sample."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extractor.core.errors import InputError
from extractor.evaluate.metrics import FIELDS
from extractor.evaluate.run import REFERENCE_FREE
from extractor.evaluate.stats import Difference, paired
from extractor.store.jsonl import records

DEFAULT_TOLERANCE = 0.02


@dataclass
class Comparison:
    baseline: str
    fields: dict[str, Difference]
    documents: list[dict[str, Any]]
    only_here: list[str]
    only_baseline: list[str]
    tolerance: float
    # Reported, never a gate: a higher grounded rate and a lower name rate are better.
    reference_free: dict[str, Difference] = field(default_factory=dict)

    @property
    def regressions(self) -> list[str]:
        return [
            name
            for name, diff in self.fields.items()
            if diff.delta < -self.tolerance and diff.verdict == "worse"
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "tolerance": self.tolerance,
            "fields": {name: diff.as_dict() for name, diff in self.fields.items()},
            "regressions": self.regressions,
            "documents": self.documents,
            "only_here": self.only_here,
            "only_baseline": self.only_baseline,
            "reference_free": {name: d.as_dict() for name, d in self.reference_free.items()},
        }


def read_samples(run_dir: Path) -> dict[str, dict[str, Any]]:
    path = run_dir / "samples.jsonl"
    if not path.is_file():
        raise InputError(f"baseline {run_dir} has no samples.jsonl: is it an eval output folder?")
    return {str(sample["id"]): sample for sample in records(path) if "id" in sample}


def compare(
    current: list[dict[str, Any]], baseline_dir: Path, tolerance: float = DEFAULT_TOLERANCE
) -> Comparison:
    base = read_samples(baseline_dir)
    here = {s["id"]: s for s in current}
    shared = [doc_id for doc_id in here if doc_id in base]

    def values(samples: dict[str, dict[str, Any]], name: str) -> list[float]:
        if name == "aggregate":
            return [float(samples[i]["aggregate"]) for i in shared]
        return [float(samples[i]["fields"][name]) for i in shared]

    fields = {
        name: paired(values(base, name), values(here, name)) for name in ("aggregate", *FIELDS)
    }
    documents = [
        {
            "id": doc_id,
            "aggregate": round(here[doc_id]["aggregate"] - base[doc_id]["aggregate"], 4),
            "fields": {
                name: round(here[doc_id]["fields"][name] - base[doc_id]["fields"][name], 4)
                for name in FIELDS
            },
        }
        for doc_id in shared
    ]
    reference_free = {}
    for name in REFERENCE_FREE:
        both = [
            (base_value, here_value)
            for doc_id in shared
            if (base_value := (base[doc_id].get("reference_free") or {}).get(name)) is not None
            and (here_value := (here[doc_id].get("reference_free") or {}).get(name)) is not None
        ]
        if len(both) >= 2:
            reference_free[name] = paired(
                [b for b, _ in both], [h for _, h in both], name == "grounded_rate"
            )
    return Comparison(
        baseline=str(baseline_dir),
        fields=fields,
        documents=documents,
        only_here=sorted(set(here) - set(base)),
        only_baseline=sorted(set(base) - set(here)),
        tolerance=tolerance,
        reference_free=reference_free,
    )
