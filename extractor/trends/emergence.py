"""How much a trend is emerging: its recent growth against its own history and against the
corpus, discounted by how little evidence there is.

The timeline runs from the first to the last period holding a dated article; its last
`recent` periods (a quarter of the timeline, at least one, unless chosen) are the recent
window, and the periods before it the history. For a trend with c_r articles in the recent
window and c_h in the history, out of the corpus's N_r and N_h dated articles there, and
one imaginary article split between the windows by their size (p_r = N_r / (N_r + N_h),
p_h = N_h / (N_r + N_h)):

    growth    = log2( ((c_r + p_r) / N_r) / ((c_h + p_h) / N_h) )
    error     = sqrt( 1 / (c_r + p_r) + 1 / (c_h + p_h) ) / ln 2
    emergence = growth - error

`growth` compares the trend's share of the articles, not its count, so a corpus that doubles
(more feeds, a busier quarter) doubles nobody's emergence: +1 means the trend's share of
recent articles is twice its share of earlier ones. The imaginary article keeps a trend with
no history finite without inventing growth: a trend with no dated article has growth 0.
`error` is the usual standard error of a log ratio of Poisson counts, so one recent article
against none before is mostly doubt, while thirty are a finding. Subtracting one error ranks
trends by a cautious estimate of their growth (a timeline of 4 periods, 100 articles each):

    one new article (1 of 100 recent, 0 of 300 earlier):   growth +2.3, emergence +0.2
    thirty new articles (30 of 100, 0 of 300):             growth +6.9, emergence +5.2
    steady (10 of 100 recent, 30 of 300 earlier):          growth  0.0, emergence -0.5

`direction` is "rising" when growth minus one error is above zero, "fading" when growth plus
one error is below zero, else "steady". A timeline of one period has no history: every trend
is steady with emergence 0.

`status`, in the spirit of BERTrend's noise, weak and strong signals, grades the recent
popularity (articles in the recent window) against all trends of the run: "noise" below the
10th percentile or with no recent article, "strong" above the median, "weak" in between. So a
"weak" and "rising" trend is the classic weak signal to watch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Emergence:
    emergence: float
    growth: float
    direction: str  # rising | steady | fading
    recent: int  # articles in the recent window
    history: int  # articles before it


def default_recent(periods: int) -> int:
    """A quarter of the timeline, at least one period: the last 3 of 12 months."""
    return max(1, round(periods / 4))


def measure(counts: Sequence[int], totals: Sequence[int], recent: int) -> Emergence:
    """`counts` and `totals`: the trend's and the corpus's dated articles per period, over
    the whole timeline; `recent`: how many of the last periods are recent."""
    if len(counts) != len(totals):
        raise ValueError(f"{len(counts)} counts for {len(totals)} periods")
    if recent < 1:
        raise ValueError(f"the recent window needs at least one period, got {recent}")
    split = max(0, len(counts) - recent)
    c_recent, c_history = sum(counts[split:]), sum(counts[:split])
    if split == 0:
        return Emergence(0.0, 0.0, "steady", c_recent, 0)
    n_recent, n_history = sum(totals[split:]), sum(totals[:split])
    if n_recent == 0 or n_history == 0:  # the timeline starts and ends with a dated article
        raise ValueError("both windows of the timeline need dated articles")
    recent_count = c_recent + n_recent / (n_recent + n_history)
    history_count = c_history + n_history / (n_recent + n_history)
    growth = math.log2((recent_count / n_recent) / (history_count / n_history))
    error = math.sqrt(1 / recent_count + 1 / history_count) / math.log(2)
    direction = "rising" if growth > error else "fading" if growth < -error else "steady"
    return Emergence(growth - error, growth, direction, c_recent, c_history)


def statuses(popularity: Sequence[int]) -> list[str]:
    """noise, weak or strong per trend, from its recent articles (see the module docstring)."""
    if not popularity:
        return []
    values = np.asarray(popularity, dtype=np.float64)
    low, median = np.percentile(values, 10), np.percentile(values, 50)
    return [
        "noise" if value == 0 or value < low else "strong" if value > median else "weak"
        for value in values.tolist()
    ]
