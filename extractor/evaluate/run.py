"""Score every gold document against its prediction and write the run's machine-readable
record: run.json (config and means with intervals) and samples.jsonl (one line per document,
with the alignments, so a run can be inspected or re-scored without re-extracting)."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extractor.core.errors import InputError
from extractor.core.result import Grounding
from extractor.evaluate.dataset import GoldDoc, Prediction
from extractor.evaluate.metrics import FIELDS, WEIGHTS, CardScore, score_card
from extractor.evaluate.similarity import Similarity
from extractor.evaluate.stats import Interval, interval
from extractor.pipeline.ground import ground_card
from extractor.pipeline.load import load_article

# Measured on the card and its own article, no gold card needed; not part of the aggregate.
REFERENCE_FREE = ("grounded_rate", "unsupported_name_rate")

LEXICAL_WARNING = (
    "scored with the lexical fallback (no embedding model installed): paraphrases score low; "
    "install signal-extractor[semantic] for semantic scores"
)


@dataclass
class DocResult:
    gold: GoldDoc
    prediction: Prediction
    score: CardScore | None
    judge: dict[str, Any] | None = None
    grounding: Grounding | None = None

    def reference_free(self) -> dict[str, float | None]:
        grounding = self.grounding
        return {
            "grounded_rate": grounding.grounded_rate if grounding else None,
            "unsupported_name_rate": grounding.unsupported_name_rate if grounding else None,
        }

    @property
    def fields(self) -> dict[str, float]:
        """A missing or unreadable prediction scores zero: a failed card is a failed card."""
        return self.score.fields if self.score else dict.fromkeys(FIELDS, 0.0)

    @property
    def aggregate(self) -> float:
        return self.score.aggregate if self.score else 0.0

    def sample(self) -> dict[str, Any]:
        card = self.prediction.card
        return {
            "id": self.gold.id,
            "aggregate": round(self.aggregate, 4),
            "fields": {k: round(v, 4) for k, v in self.fields.items()},
            "secondary": {k: round(v, 4) for k, v in self.score.secondary.items()}
            if self.score
            else {},
            "error": self.prediction.error,
            "alignments": self.score.alignments(card, self.gold.card)
            if self.score and card
            else None,
            "judge": self.judge,
            "reference_free": {
                **{k: None if v is None else round(v, 4) for k, v in self.reference_free().items()},
                "unsupported_names": list(self.grounding.unsupported_names)
                if self.grounding
                else [],
            },
            "pred": card.model_dump(exclude={"closest", "source", "link"}) if card else None,
            "gold": self.gold.card.model_dump(exclude={"closest", "source", "link"}),
        }


@dataclass
class EvalRun:
    docs: list[DocResult]
    similarity: Similarity
    config: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def field_intervals(self) -> dict[str, Interval]:
        return {name: interval([d.fields[name] for d in self.docs]) for name in FIELDS}

    def aggregate_interval(self) -> Interval:
        return interval([d.aggregate for d in self.docs])

    def reference_free_intervals(self) -> dict[str, dict[str, float] | None]:
        """Over the documents where the figure exists: a card without evidence (a seed-format
        file) has no grounded rate, a card without names no name rate."""
        found: dict[str, dict[str, float] | None] = {}
        for name in REFERENCE_FREE:
            values = [v for d in self.docs if (v := d.reference_free()[name]) is not None]
            found[name] = (
                {**interval(values).as_dict(), "documents": len(values)} if values else None
            )
        return found

    def summary(self) -> dict[str, Any]:
        fields = self.field_intervals()
        overall = self.aggregate_interval()
        scored = [d for d in self.docs if d.score]
        secondary_names = scored[0].score.secondary if scored and scored[0].score else {}
        judged = [d.judge["score"] for d in self.docs if d.judge and d.judge["score"] is not None]
        models = {d.prediction.model for d in self.docs if d.prediction.model}
        versions = {d.prediction.prompt_version for d in self.docs if d.prediction.prompt_version}
        return {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "git_commit": _git_commit(),
            "config": self.config,
            "model": ", ".join(sorted(models)) or None,
            "prompt_version": ", ".join(sorted(versions)) or None,
            "metric_backend": self.similarity.name,
            "semantic": self.similarity.semantic,
            "threshold": self.similarity.threshold,
            "weights": WEIGHTS,
            "documents": len(self.docs),
            "scored": len(scored),
            "missing": [d.gold.id for d in self.docs if not d.score],
            "aggregate": round(overall.mean, 4),
            "aggregate_ci": overall.as_dict(),
            "fields": {name: round(ci.mean, 4) for name, ci in fields.items()},
            "fields_ci": {name: ci.as_dict() for name, ci in fields.items()},
            "secondary": {
                name: round(
                    sum(d.score.secondary[name] for d in scored if d.score) / len(scored), 4
                )
                for name in secondary_names
            },
            "judge": interval(judged).as_dict() if judged else None,
            "reference_free_ci": self.reference_free_intervals(),
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
        }

    def write(self, out: Path) -> dict[str, Any]:
        out.mkdir(parents=True, exist_ok=True)
        summary = self.summary()
        (out / "run.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        with (out / "samples.jsonl").open("w", encoding="utf-8") as samples:
            for doc in self.docs:
                samples.write(json.dumps(doc.sample(), ensure_ascii=False) + "\n")
        return summary


def score_all(
    gold: list[GoldDoc],
    predictions: dict[str, Prediction],
    similarity: Similarity,
    config: dict[str, Any] | None = None,
) -> EvalRun:
    started = time.perf_counter()
    docs = []
    for doc in gold:
        prediction = predictions.get(doc.id) or Prediction(None, "no prediction")
        score = score_card(prediction.card, doc.card, similarity) if prediction.card else None
        grounding = None
        text = prediction.article_text or _article_text(doc)
        if prediction.card is not None and text:
            grounding, _ = ground_card(prediction.card, text)
        docs.append(DocResult(doc, prediction, score, grounding=grounding))
    warnings = [] if similarity.semantic else [LEXICAL_WARNING]
    unknown = sorted(set(predictions) - {d.id for d in gold})
    if unknown:
        warnings.append(f"{len(unknown)} predictions match no gold card: {', '.join(unknown[:5])}")
    return EvalRun(docs, similarity, config or {}, warnings, time.perf_counter() - started)


def _article_text(doc: GoldDoc) -> str | None:
    if doc.article is None:
        return None
    try:
        return load_article(doc.article).text
    except InputError:
        return None


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except OSError:
        return None
    return done.stdout.strip() or None
