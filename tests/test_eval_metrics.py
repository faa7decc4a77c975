"""The metrics checked against properties they must have, on every gold card: identity scores
1, order does not matter, a dropped row costs about 1/n of signal recall, a paraphrase scores
high and another article's card scores far lower. Run with both scorers."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from extractor.core.card import SignalCard
from extractor.evaluate.metrics import FIELDS, WEIGHTS, rouge_l, score_card
from extractor.evaluate.similarity import (
    LexicalSimilarity,
    Similarity,
    make_similarity,
    same_text,
)

pytestmark = pytest.mark.native("minilm")

ROOT = Path(__file__).resolve().parent.parent
GOLD = sorted((ROOT / "seeds").glob("*.txt"))
CARDS = {path.stem: SignalCard.from_markdown(path.read_text(encoding="utf-8")) for path in GOLD}
PARAPHRASE = SignalCard.from_markdown((ROOT / "tests/data/paraphrase_000.txt").read_text())


@pytest.fixture(scope="module", params=["minilm", "lexical"])
def similarity(request: pytest.FixtureRequest) -> Similarity:
    return make_similarity(request.param)


def test_the_gold_set_is_large_enough_to_mean_something() -> None:
    assert len(CARDS) >= 13


def test_weights_sum_to_one() -> None:
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)
    assert set(WEIGHTS) == set(FIELDS)


@pytest.mark.parametrize("name", sorted(CARDS))
def test_a_card_against_itself_scores_one(name: str, similarity: Similarity) -> None:
    card = CARDS[name]
    score = score_card(card, card, similarity)
    assert score.aggregate == pytest.approx(1.0)
    assert all(value == pytest.approx(1.0) for value in score.fields.values())
    assert score.signals.recall == score.signals.precision == 1.0


@pytest.mark.parametrize("name", sorted(CARDS))
def test_shuffling_rows_keywords_and_themes_changes_nothing(
    name: str, similarity: Similarity
) -> None:
    card = CARDS[name]
    rng = random.Random(name)
    shuffled = card.model_copy(
        update={
            "keywords": rng.sample(card.keywords, len(card.keywords)),
            "themes": rng.sample(card.themes, len(card.themes)),
            "signals": rng.sample(card.signals, len(card.signals)),
        }
    )
    assert score_card(shuffled, card, similarity).fields == pytest.approx(
        score_card(card, card, similarity).fields
    )


@pytest.mark.parametrize("name", sorted(CARDS))
def test_a_dropped_row_lowers_signal_recall_by_one_over_n(
    name: str, similarity: Similarity
) -> None:
    card = CARDS[name]
    n = len(card.signals)
    dropped = card.model_copy(update={"signals": card.signals[1:]})
    score = score_card(dropped, card, similarity)
    assert score.signals.recall == pytest.approx(1 - 1 / n)
    assert score.signals.precision == 1.0
    assert score.fields["signals"] == pytest.approx(1 - 1 / n, abs=1e-6)
    assert score.aggregate < 1.0


@pytest.mark.parametrize("name", sorted(CARDS))
def test_an_extra_row_costs_like_a_missing_one(name: str, similarity: Similarity) -> None:
    card = CARDS[name]
    other = CARDS[next(k for k in sorted(CARDS) if k != name)]
    padded = card.model_copy(update={"signals": [*card.signals, other.signals[0]]})
    score = score_card(padded, card, similarity)
    n = len(card.signals)
    assert score.signals.recall == 1.0
    assert score.signals.precision == pytest.approx(n / (n + 1))
    assert score.fields["signals"] < 1.0


@pytest.mark.parametrize("name", sorted(CARDS))
def test_another_articles_card_scores_far_lower(name: str, similarity: Similarity) -> None:
    card = CARDS[name]
    others = [score_card(CARDS[k], card, similarity).aggregate for k in CARDS if k != name]
    # Character overlap between unrelated phrases lifts the lexical floor; embeddings do not.
    worst, typical = (0.45, 0.2) if similarity.semantic else (0.65, 0.5)
    assert max(others) < worst
    assert sum(others) / len(others) < typical


def test_a_faithful_paraphrase_scores_high_with_embeddings() -> None:
    gold = CARDS["000_45ba7780239e8c00"]
    semantic = score_card(PARAPHRASE, gold, make_similarity("minilm"))
    lexical = score_card(PARAPHRASE, gold, LexicalSimilarity())
    assert semantic.aggregate > 0.75
    assert semantic.signals.recall == 1.0
    # ROUGE-L barely sees the paraphrase: why it is only the second metric for summaries.
    assert semantic.secondary["summary_rouge_l"] < 0.4 < semantic.fields["summary"]
    assert semantic.aggregate > lexical.aggregate
    unrelated = [score_card(c, gold, make_similarity("minilm")).aggregate for c in CARDS.values()]
    assert semantic.aggregate > sorted(unrelated)[-2] + 0.3  # the best non-identical card


def test_scores_fall_as_a_card_degrades() -> None:
    gold = CARDS["000_45ba7780239e8c00"]
    similarity = make_similarity("minilm")
    steps = [gold]
    for n in range(1, len(gold.signals)):
        steps.append(gold.model_copy(update={"signals": gold.signals[n:]}))
    scores = [score_card(card, gold, similarity).fields["signals"] for card in steps]
    assert scores == sorted(scores, reverse=True)
    assert len(set(scores)) == len(scores)


def test_items_match_one_to_one() -> None:
    gold = CARDS["000_45ba7780239e8c00"]
    repeated = gold.model_copy(update={"keywords": ["Meta"] * 1 + ["Meta Platforms"]})
    score = score_card(repeated, gold, make_similarity("minilm"))
    assert sum(m.matched for m in score.keywords.pairs) <= 2
    assert score.keywords.recall <= 2 / len(gold.keywords)


def test_alignments_name_both_sides() -> None:
    gold = CARDS["000_45ba7780239e8c00"]
    dropped = gold.model_copy(update={"signals": gold.signals[1:]})
    score = score_card(dropped, gold, make_similarity("lexical"))
    rows = score.alignments(dropped, gold)["signals"]
    assert len(rows) == len(gold.signals)
    missing = [r for r in rows if r["pred"] is None]
    assert len(missing) == 1
    assert missing[0]["gold"]["signal"] == gold.signals[0].signal


def test_rouge_l() -> None:
    assert rouge_l("the cat sat", "the cat sat") == 1.0
    assert rouge_l("", "words") == 0.0
    assert rouge_l("a b c d", "a x c y") == pytest.approx(0.5)


def test_same_text_ignores_case_spacing_and_punctuation() -> None:
    assert same_text("Open-source", "open source") is False  # hyphen joins words
    assert same_text("US  Government.", "us government")
    assert not same_text("US government", "UK government")
