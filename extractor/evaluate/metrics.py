"""How far a predicted card is from its gold card, field by field.

- title, summary: similarity of the two texts; ROUGE-L F1 beside it as the lexical second,
  because a faithful paraphrase shares few words (ROUGE-L 0.28 where cosine gives 0.77).
- keywords, themes: items matched one-to-one (Hungarian) so that one gold item is credited
  once; a matched pair counts when its similarity reaches the backend's threshold. The score
  is that F1; the soft score (mean matched similarity over the larger set) sits beside it.
- signals: rows matched one-to-one on whole-row similarity, then each column's similarity is
  summed over the matched rows and divided by max(predicted, gold) rows, so a missing row and
  an extra row both cost. The score is the mean of the four columns; row P/R/F1 beside it.
- aggregate: a weighted mean. The signals table is what analysts use the card for, so it
  weighs most; the title weighs least because it is one line the user can rewrite.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from extractor.core.card import CardDraft, SignalRow
from extractor.evaluate.similarity import Similarity

FIELDS = ("title", "summary", "keywords", "themes", "signals")
WEIGHTS = {"title": 0.10, "summary": 0.25, "keywords": 0.15, "themes": 0.10, "signals": 0.40}
COLUMNS = ("signal", "change", "horizon_10y", "driving_force")


@dataclass
class Match:
    pred: int | None
    gold: int | None
    similarity: float
    matched: bool


@dataclass
class SetScore:
    precision: float
    recall: float
    f1: float
    soft: float
    pairs: list[Match]


@dataclass
class TableScore:
    score: float
    columns: dict[str, float]
    precision: float
    recall: float
    f1: float
    pairs: list[Match]
    column_similarity: list[dict[str, float]]


@dataclass
class CardScore:
    fields: dict[str, float]
    aggregate: float
    secondary: dict[str, float]
    keywords: SetScore
    themes: SetScore
    signals: TableScore
    notes: list[str] = field(default_factory=list)

    def alignments(self, pred: CardDraft, gold: CardDraft) -> dict[str, Any]:
        """Who was matched to whom, with texts, for samples.jsonl and the report."""

        def items(score: SetScore, p: list[str], g: list[str]) -> list[dict[str, Any]]:
            return [
                {
                    "pred": None if m.pred is None else p[m.pred],
                    "gold": None if m.gold is None else g[m.gold],
                    "similarity": round(m.similarity, 4),
                    "matched": m.matched,
                }
                for m in score.pairs
            ]

        rows = []
        for match, columns in zip(self.signals.pairs, self.signals.column_similarity, strict=True):
            rows.append(
                {
                    "pred": None if match.pred is None else _row(pred.signals[match.pred]),
                    "gold": None if match.gold is None else _row(gold.signals[match.gold]),
                    "similarity": round(match.similarity, 4),
                    "matched": match.matched,
                    "columns": {k: round(v, 4) for k, v in columns.items()},
                }
            )
        return {
            "keywords": items(self.keywords, pred.keywords, gold.keywords),
            "themes": items(self.themes, pred.themes, gold.themes),
            "signals": rows,
        }


def _row(row: SignalRow) -> dict[str, str]:
    return dict(zip(COLUMNS, row.cells(), strict=True))


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 over lower-cased word tokens (Lin 2004), via longest common subsequence."""
    a, b = candidate.lower().split(), reference.lower().split()
    if not a or not b:
        return 0.0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    lcs = previous[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(a), lcs / len(b)
    return 2 * precision * recall / (precision + recall)


def _f1(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _align(scores: np.ndarray[Any, Any], threshold: float) -> list[Match]:
    """One-to-one pairs maximising total similarity, then the leftovers on either side."""
    n_pred, n_gold = scores.shape
    pairs: list[Match] = []
    used_pred: set[int] = set()
    used_gold: set[int] = set()
    if n_pred and n_gold:
        rows, cols = linear_sum_assignment(scores, maximize=True)
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
            similarity = float(scores[i, j])
            pairs.append(Match(i, j, similarity, similarity >= threshold))
            used_pred.add(i)
            used_gold.add(j)
    pairs += [Match(None, j, 0.0, False) for j in range(n_gold) if j not in used_gold]
    pairs += [Match(i, None, 0.0, False) for i in range(n_pred) if i not in used_pred]
    pairs.sort(key=lambda m: (m.gold is None, m.gold if m.gold is not None else m.pred or 0))
    return pairs


def score_set(pred: Sequence[str], gold: Sequence[str], similarity: Similarity) -> SetScore:
    pairs = _align(similarity.matrix(pred, gold), similarity.threshold)
    hits = sum(m.matched for m in pairs)
    precision = hits / len(pred) if pred else 0.0
    recall = hits / len(gold) if gold else 0.0
    larger = max(len(pred), len(gold))
    soft = sum(m.similarity for m in pairs) / larger if larger else 1.0
    if not pred and not gold:
        return SetScore(1.0, 1.0, 1.0, 1.0, [])
    return SetScore(precision, recall, _f1(precision, recall), soft, pairs)


def _row_text(row: SignalRow) -> str:
    return ". ".join(row.cells())


def score_table(
    pred: Sequence[SignalRow], gold: Sequence[SignalRow], similarity: Similarity
) -> TableScore:
    pred_text, gold_text = [_row_text(r) for r in pred], [_row_text(r) for r in gold]
    pairs = _align(similarity.matrix(pred_text, gold_text), similarity.threshold)
    per_column = {
        column: similarity.matrix([r.cells()[i] for r in pred], [r.cells()[i] for r in gold])
        for i, column in enumerate(COLUMNS)
    }
    column_similarity = [
        {c: float(per_column[c][m.pred, m.gold]) for c in COLUMNS}
        if m.pred is not None and m.gold is not None
        else dict.fromkeys(COLUMNS, 0.0)
        for m in pairs
    ]
    larger = max(len(pred), len(gold))
    columns = {
        c: (sum(s[c] for s in column_similarity) / larger if larger else 1.0) for c in COLUMNS
    }
    hits = sum(m.matched for m in pairs)
    precision = hits / len(pred) if pred else 0.0
    recall = hits / len(gold) if gold else 0.0
    return TableScore(
        score=sum(columns.values()) / len(COLUMNS),
        columns=columns,
        precision=precision,
        recall=recall,
        f1=_f1(precision, recall),
        pairs=pairs,
        column_similarity=column_similarity,
    )


def _text_similarity(pred: str, gold: str, similarity: Similarity) -> float:
    return float(similarity.matrix([pred], [gold])[0, 0])


def score_card(pred: CardDraft, gold: CardDraft, similarity: Similarity) -> CardScore:
    similarity.prepare(_texts(pred) + _texts(gold))
    keywords = score_set(pred.keywords, gold.keywords, similarity)
    themes = score_set(pred.themes, gold.themes, similarity)
    signals = score_table(pred.signals, gold.signals, similarity)
    fields = {
        "title": _text_similarity(pred.title, gold.title, similarity),
        "summary": _text_similarity(pred.summary, gold.summary, similarity),
        "keywords": keywords.f1,
        "themes": themes.f1,
        "signals": signals.score,
    }
    secondary = {
        "title_rouge_l": rouge_l(pred.title, gold.title),
        "summary_rouge_l": rouge_l(pred.summary, gold.summary),
        "keywords_precision": keywords.precision,
        "keywords_recall": keywords.recall,
        "keywords_soft": keywords.soft,
        "themes_precision": themes.precision,
        "themes_recall": themes.recall,
        "themes_soft": themes.soft,
        "signals_precision": signals.precision,
        "signals_recall": signals.recall,
        "signals_f1": signals.f1,
        **{f"signals_{c}": v for c, v in signals.columns.items()},
    }
    return CardScore(
        fields=fields,
        aggregate=aggregate(fields),
        secondary=secondary,
        keywords=keywords,
        themes=themes,
        signals=signals,
    )


def aggregate(fields: dict[str, float]) -> float:
    return sum(WEIGHTS[name] * fields[name] for name in FIELDS)


def _texts(card: CardDraft) -> list[str]:
    """Every string a card pair will be scored on, so one embedding batch covers them all."""
    rows = [_row_text(r) for r in card.signals] + [c for r in card.signals for c in r.cells()]
    return [card.title, card.summary, *card.keywords, *card.themes, *rows]
