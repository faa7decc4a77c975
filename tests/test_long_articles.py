"""Articles longer than the model can read are cut at a sentence end to a token budget, and
the result says so; nothing fails silently."""

from __future__ import annotations

import pytest

from extractor.backends.embedded import CONTEXT_TOKENS, count_tokens
from extractor.backends.tokens import ENDPOINT_BUDGET, estimate
from tests.fakeserver import ARTICLE, FakeServer, card_json, make_extractor, reply

pytestmark = pytest.mark.native("llama")

SENTENCE = "The regional grid operator reported another record day for rooftop solar output. "


def _extract(server: FakeServer, text: str, budget: int | None) -> tuple[str, list[str]]:
    server.play(reply(card_json()))
    options = {} if budget is None else {"max_article_tokens": budget}
    extractor = make_extractor(server, mode="json_schema", strategy="single", **options)
    try:
        result = extractor.extract(text)
    finally:
        extractor.close()
    return server.requests[-1].user_text, result.warnings


def test_a_long_article_is_cut_at_a_sentence_end_with_a_warning(server: FakeServer) -> None:
    text = ARTICLE + "\n\n" + SENTENCE * 400
    sent, warnings = _extract(server, text, budget=600)
    assert ARTICLE.splitlines()[2][:60] in sent
    assert SENTENCE * 3 in sent and SENTENCE * 400 not in sent
    kept = sent[sent.index(SENTENCE) : sent.index("</article>")]
    assert kept.rstrip().endswith("output.")  # a whole sentence, not a cut word
    (cut,) = [warning for warning in warnings if "truncated" in warning]
    assert "600 tokens" in cut


def test_an_article_within_the_budget_is_untouched(server: FakeServer) -> None:
    _, warnings = _extract(server, ARTICLE, budget=None)
    assert not any("truncated" in warning for warning in warnings)


def test_one_endless_sentence_is_cut_inside_it(server: FakeServer) -> None:
    text = "Headline\n\n" + "word " * 20_000
    sent, warnings = _extract(server, text, budget=300)
    assert 0 < sent.count("word") < 20_000
    assert estimate("word " * sent.count("word")) <= 320
    assert warnings


def test_cjk_text_costs_more_tokens_per_character() -> None:
    chinese = "中国的新能源汽车出口在今年继续快速增长。" * 10
    assert estimate(chinese) >= len(chinese)  # about one token per character, not four
    assert estimate("plain English words") <= len("plain English words")
    assert ENDPOINT_BUDGET >= 100_000


@pytest.mark.parametrize("text", [SENTENCE, "中国的新能源汽车出口在今年继续快速增长。"])
def test_the_estimate_stays_above_the_embedded_tokenizers_count(text: str) -> None:
    assert estimate(text * 20) >= count_tokens(text * 20)
    assert CONTEXT_TOKENS == 8192
