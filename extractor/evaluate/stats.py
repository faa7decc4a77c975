"""Bootstrap intervals over documents, so a mean comes with how much it could move on another
sample of articles, and a paired test that tells a better prompt from a lucky one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

RESAMPLES = 2000
_SEED = 20241124  # fixed, so the same scores always give the same interval


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"mean": round(self.mean, 4), "low": round(self.low, 4), "high": round(self.high, 4)}


@dataclass(frozen=True)
class Difference:
    """Candidate minus baseline, paired by document."""

    delta: float
    low: float
    high: float
    p_value: float
    documents: int
    higher_is_better: bool = True  # False for rates of mistakes

    @property
    def verdict(self) -> str:
        """'better' or 'worse' only when the 95% interval excludes zero; otherwise 'noise'."""
        up, down = ("better", "worse") if self.higher_is_better else ("worse", "better")
        if self.documents >= 2 and self.low > 0:
            return up
        if self.documents >= 2 and self.high < 0:
            return down
        return "noise" if self.delta != 0 else "same"

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "delta": round(self.delta, 4),
            "low": round(self.low, 4),
            "high": round(self.high, 4),
            "p_value": round(self.p_value, 4),
            "documents": self.documents,
            "verdict": self.verdict,
        }


def _resampled_means(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    rng = np.random.default_rng(_SEED)
    picks = rng.integers(0, len(values), size=(RESAMPLES, len(values)))
    means: npt.NDArray[np.float64] = values[picks].mean(axis=1)
    return means


def interval(values: Sequence[float]) -> Interval:
    """Percentile bootstrap 95% interval of the mean."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return Interval(0.0, 0.0, 0.0)
    mean = float(data.mean())
    if data.size == 1:
        return Interval(mean, mean, mean)
    low, high = np.percentile(_resampled_means(data), [2.5, 97.5])
    return Interval(mean, float(low), float(high))


def paired(
    baseline: Sequence[float], candidate: Sequence[float], higher_is_better: bool = True
) -> Difference:
    """Bootstrap of per-document differences; the p-value is two-sided: how often a resample's
    mean difference lands on the other side of zero, doubled."""
    diffs = np.asarray(candidate, dtype=np.float64) - np.asarray(baseline, dtype=np.float64)
    if diffs.size == 0:
        return Difference(0.0, 0.0, 0.0, 1.0, 0, higher_is_better)
    delta = float(diffs.mean())
    if diffs.size == 1 or not diffs.any():
        p_value = 1.0 if delta == 0 else 0.0
        return Difference(delta, delta, delta, p_value, int(diffs.size), higher_is_better)
    means = _resampled_means(diffs)
    low, high = np.percentile(means, [2.5, 97.5])
    wrong_side = float(np.mean(means <= 0) if delta > 0 else np.mean(means >= 0))
    p_value = min(1.0, 2 * wrong_side)
    return Difference(delta, float(low), float(high), p_value, int(diffs.size), higher_is_better)
