from __future__ import annotations

import pytest

from extractor.evaluate.stats import interval, paired


def test_interval_brackets_the_mean_and_narrows_with_more_documents() -> None:
    few = interval([0.2, 0.8, 0.5, 0.4])
    many = interval([0.2, 0.8, 0.5, 0.4] * 10)
    assert few.low <= few.mean <= few.high
    assert many.high - many.low < few.high - few.low
    assert interval([0.7]).as_dict() == {"mean": 0.7, "low": 0.7, "high": 0.7}
    assert interval([]).mean == 0.0


def test_interval_is_reproducible() -> None:
    values = [0.1, 0.9, 0.3, 0.6, 0.5]
    assert interval(values) == interval(values)


def test_paired_difference_tells_a_real_gain_from_noise() -> None:
    base = [0.50, 0.60, 0.40, 0.55, 0.45, 0.52, 0.48, 0.58]
    better = [b + 0.05 for b in base]
    assert paired(base, better).verdict == "better"
    assert paired(base, better).delta == pytest.approx(0.05)
    assert paired(base, better).p_value < 0.05
    jitter = [0.1, -0.1, 0.08, -0.09, 0.1, -0.1, 0.05, -0.03]
    noisy = [b + d for b, d in zip(base, jitter, strict=True)]
    assert paired(base, noisy).verdict == "noise"
    assert paired(base, noisy).p_value > 0.05
    worse = [b - 0.1 for b in base]
    assert paired(base, worse).verdict == "worse"
    assert paired(base, base).verdict == "same"


def test_a_single_document_is_never_called_significant() -> None:
    assert paired([0.5], [0.9]).verdict == "noise"
