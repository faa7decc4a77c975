"""The re-ask loop: an unusable answer goes back to the model with the validation errors, every
attempt is kept, usage is summed over all of them, and a refusal stops at once."""

from __future__ import annotations

import json

import pytest

from extractor.core.article import Article
from extractor.core.errors import EndpointError, ExtractionError
from extractor.core.schema import SECTIONS
from extractor.pipeline.extract import aextract_article, extract_article
from extractor.pipeline.ground import Aligner
from extractor.pipeline.prompting import Prompts
from tests.fakeserver import (
    ARTICLE,
    ARTICLE_TITLE,
    CITE,
    KEYWORDS,
    SIGNAL_SENTENCES,
    SIGNALS,
    SUMMARY,
    THEMES,
    TITLE,
    FakeServer,
    card_json,
    cells,
    extract_from,
    extractor_options,
    make_extractor,
    refusal,
    reply,
    section_answers,
    truncated,
)


def _fail(server: FakeServer, **options) -> ExtractionError:
    with pytest.raises(ExtractionError) as caught:
        extract_from(server, **options)
    assert not isinstance(caught.value, EndpointError)
    return caught.value


def _common_prefix(texts: list[str]) -> str:
    first, last = min(texts), max(texts)
    size = next(
        (i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), len(first)
    )
    return first[:size]


def _reask_text(server: FakeServer, index: int) -> str:
    last = server.requests[index].messages[-1]
    assert last["role"] == "user"
    return str(last["content"])


def test_invalid_json_is_re_asked_with_the_error(server: FakeServer) -> None:
    first = "Sure! Here is the card: title = Solar"
    server.play(
        [
            reply(first, prompt_tokens=11, completion_tokens=7),
            reply(card_json(), prompt_tokens=13, completion_tokens=9),
        ]
    )
    result = extract_from(server)

    assert result.card.title == TITLE
    assert result.usage.reasks == 1
    assert result.usage.requests == 2
    assert result.usage.prompt_tokens == 24
    assert result.usage.completion_tokens == 16
    assert result.usage.total_tokens == 40
    assert [a.error is None for a in result.attempts] == [False, True]
    assert result.attempts[0].raw == first

    one, two = server.requests[0].messages, server.requests[1].messages
    assert [m["role"] for m in one] == ["system", "user"]
    assert [m["role"] for m in two] == ["system", "user", "assistant", "user"]
    assert two[:2] == one  # the conversation continues, it does not restart
    assert two[2]["content"] == first
    assert "not valid JSON" in two[3]["content"]
    assert "- the answer is not valid JSON" in two[3]["content"]  # listed as a bullet


def test_an_answer_that_stays_invalid_fails_with_every_attempt(server: FakeServer) -> None:
    raws = ["garbage one", "garbage two", "garbage three"]
    server.play(raws)
    error = _fail(server, max_reasks=2)

    assert len(server.requests) == 3
    assert len(error.attempts) == 3
    assert [a.raw for a in error.attempts] == raws
    assert all(a.error and "not valid JSON" in a.error for a in error.attempts)
    assert error.raw == "garbage three"
    assert "after 3 attempts" in str(error)
    assert error.usage.requests == 3
    assert error.usage.reasks == 2
    # Each re-ask carries the whole conversation so far.
    assert [m["content"] for m in server.requests[2].messages if m["role"] == "assistant"] == [
        "garbage one",
        "garbage two",
    ]


def test_no_reasks_means_one_request(server: FakeServer) -> None:
    server.play("not json at all")
    error = _fail(server, max_reasks=0)
    assert len(server.requests) == 1
    assert len(error.attempts) == 1
    assert error.usage.reasks == 0


def test_too_few_keywords_are_re_asked_with_the_minimum(server: FakeServer) -> None:
    server.play([card_json(keywords=KEYWORDS[:3]), card_json()])
    result = extract_from(server)
    assert len(server.requests) == 2
    reask = _reask_text(server, 1)
    assert "at least 5" in reask
    assert "keywords" in reask
    assert result.card.keywords == KEYWORDS
    assert result.usage.reasks == 1


def test_a_missing_key_is_named_in_the_reask(server: FakeServer) -> None:
    partial = {"title": TITLE, "summary": SUMMARY, "keywords": KEYWORDS, "themes": THEMES}
    server.play([json.dumps(partial), card_json()])
    result = extract_from(server)
    assert "missing key 'signals'" in _reask_text(server, 1)
    assert len(result.card.signals) == len(SIGNALS)


def test_a_title_copied_from_the_prompt_example_is_rejected(server: FakeServer) -> None:
    # The card task shows this phrase as an example; it is not in the article.
    server.play([card_json(title="Meta permits military use of Llama AI"), card_json()])
    result = extract_from(server)
    assert "copied from the instructions" in _reask_text(server, 1)
    assert result.card.title == TITLE


def test_a_cut_off_answer_is_a_failed_attempt_even_if_it_parses(server: FakeServer) -> None:
    # Even complete-looking JSON is distrusted when the model hit max_tokens.
    server.play([truncated(card_json()), reply(card_json())])
    result = extract_from(server)
    assert len(server.requests) == 2
    assert result.attempts[0].finish_reason == "length"
    assert result.attempts[0].error is not None
    assert "cut off" in _reask_text(server, 1)
    assert result.usage.reasks == 1


def test_a_cut_off_answer_every_time_fails(server: FakeServer) -> None:
    server.play(truncated(card_json()[:60]))
    error = _fail(server, max_reasks=1)
    assert len(server.requests) == 2
    assert all(a.finish_reason == "length" for a in error.attempts)
    assert "cut off" in str(error)


def test_an_empty_answer_is_re_asked(server: FakeServer) -> None:
    server.play([reply(""), reply(card_json())])
    result = extract_from(server)
    assert "empty" in _reask_text(server, 1)
    assert result.usage.reasks == 1


def test_a_refusal_stops_at_once(server: FakeServer) -> None:
    server.play(refusal("I can't help with summarising this article."))
    error = _fail(server, max_reasks=2)
    assert len(server.requests) == 1
    assert "I can't help with summarising this article." in str(error)
    assert "refused" in str(error)
    assert len(error.attempts) == 1
    assert error.attempts[0].error is not None
    assert error.attempts[0].error.startswith("refused")
    assert error.usage.reasks == 0


def test_a_content_filter_stop_is_a_refusal(server: FakeServer) -> None:
    server.play(reply(None, finish_reason="content_filter"))
    error = _fail(server, max_reasks=2)
    assert len(server.requests) == 1
    assert "content filter" in str(error)


def test_sectioned_strategy_asks_once_per_section(server: FakeServer) -> None:
    server.play(section_answers())
    result = extract_from(server, strategy="sectioned")

    # Two sections (the headline is the title, the picked sentences the summary), the signal
    # sentences, a row for each.
    assert len(server.requests) == 6
    assert result.strategy == "sectioned"
    assert result.usage.requests == 6
    assert result.usage.reasks == 0
    card = result.card
    assert card.title == ARTICLE_TITLE
    assert result.sources["title"] == "article headline"
    assert result.sources["summary"].startswith("model, the article sentences it picked")
    assert result.sources["keywords"] == "model, chosen among the article's phrases"
    assert result.sources["themes"].startswith("model, chosen among the vocabulary")
    assert result.sources["signals"].startswith("model")
    sentences = Aligner(ARTICLE).sentences
    picked = [ARTICLE[slice(*sentences[n - 1])] for n in SIGNAL_SENTENCES]
    assert card.summary == " ".join(picked)
    assert card.keywords == KEYWORDS
    assert card.themes == THEMES
    assert [row.model_dump(exclude={"evidence"}) for row in card.signals] == [
        cells(row) for row in SIGNALS
    ]
    assert all(row.grounded for row in card.signals)
    for row, number in zip(card.signals, SIGNAL_SENTENCES, strict=True):
        (span,) = row.evidence
        assert (span.start, span.end) == sentences[number - 1]  # the sentence it was written from

    assert SECTIONS == ("title", "summary", "keywords", "themes", "signals")
    asked = ("keywords", "themes", "pick", "signal", "signal", "signal")
    for body, section in zip(server.bodies, asked, strict=True):
        assert body["response_format"]["json_schema"]["name"] == f"signal_card_{section}"
    keywords = server.bodies[0]["response_format"]["json_schema"]["schema"]["properties"]
    assert keywords["keywords"]["minItems"] == 10  # as many as a seed card lists
    # Themes are chosen among broad fields, shown in the prompt and enforced by the schema.
    themes = server.bodies[1]["response_format"]["json_schema"]["schema"]["properties"]
    assert themes["themes"]["minItems"] == themes["themes"]["maxItems"] == 3
    fields = themes["themes"]["items"]["enum"]
    assert "Energy Transition" in fields and "Artificial Intelligence" in fields
    assert "; ".join(fields) in server.requests[1].user_text
    row = server.requests[3]
    # Worked examples come as earlier turns, then the one sentence the row is written from,
    # without the headline, which a tiny model copies into every row.
    assert [m["role"] for m in row.messages] == ["system"] + ["user", "assistant"] * 3 + ["user"]
    assert ARTICLE.splitlines()[2][:40] in row.messages[-1]["content"]
    assert ARTICLE.splitlines()[2][:40] not in row.messages[1]["content"]
    assert ARTICLE_TITLE not in row.messages[-1]["content"]
    cap = server.bodies[3]["response_format"]["json_schema"]["schema"]["properties"]
    assert cap["signal"]["maxLength"] == 50
    # A row's change, horizon and driving force are each one of its vocabulary's entries
    # (all of them, with no MiniLM to rank).
    vocabularies = Prompts().cell_vocabularies()
    assert set(vocabularies) == {"change", "horizon_10y", "driving_force"}
    for cell, entries in vocabularies.items():
        assert cap[cell] == {"type": "string", "enum": list(entries)}
    assert "change, horizon and driving force each chosen among" in result.sources["signals"]

    users = [r.user_text for r in server.requests[:3]]
    prefix = _common_prefix(users)
    # The article comes first (its sentences numbered, for the rows to cite), so servers can
    # reuse the cached prefix.
    numbered = Aligner(ARTICLE).numbered()
    assert numbered in prefix and numbered.startswith("[1] Solar Microgrids")
    assert all(u.startswith(prefix) for u in users)
    assert len({u[len(prefix) :] for u in users}) == 3  # only the task differs


def test_sectioned_strategy_re_asks_only_the_failing_section(server: FakeServer) -> None:
    keywords, themes, *signals = section_answers()
    none = json.dumps({"keywords": []})
    server.play([none, keywords, themes, *signals])
    result = extract_from(server, strategy="sectioned")
    assert len(server.requests) == 7
    assert result.usage.reasks == 1
    reask = _reask_text(server, 1)
    assert "at least 10" in reask
    # Small models copy any earlier answer in context, so the sectioned re-ask is the first
    # prompt again plus the errors, not a conversation.
    assert [len(r.messages) for r in server.requests[:4]] == [2] * 4
    assert reask.startswith(_reask_text(server, 0))
    assert [a.section for a in result.attempts] == [
        "keywords",
        "keywords",
        "themes",
        "pick",
        "signal",
        "signal",
        "signal",
    ]
    assert result.card.keywords == KEYWORDS


def test_a_chosen_list_cut_short_by_repeats_is_filled_from_the_top_of_its_choices(
    server: FakeServer,
) -> None:
    *_, pick, row1, row2, row3 = section_answers()
    repeated = json.dumps({"keywords": [KEYWORDS[0], KEYWORDS[0], KEYWORDS[1], KEYWORDS[2]]})
    server.play([repeated, json.dumps({"themes": ["Energy Policy"] * 3}), pick, row1, row2, row3])
    result = extract_from(server, strategy="sectioned")
    assert result.usage.reasks == 0  # what the model chose stands; no request is spent on it
    offered = server.bodies[0]["response_format"]["json_schema"]["schema"]["properties"]
    choices = offered["keywords"]["items"]["enum"]
    card = result.card
    assert card.keywords[:3] == KEYWORDS[:3]
    assert len(card.keywords) == 10
    assert card.keywords[3:] == [c for c in choices if c not in KEYWORDS[:3]][:7]
    fields = server.bodies[1]["response_format"]["json_schema"]["schema"]["properties"]
    expected = [
        "Energy Policy",
        *[f for f in fields["themes"]["items"]["enum"] if f != "Energy Policy"][:2],
    ]
    assert card.themes == expected
    assert result.sources["keywords"].endswith("(7 added from the top of that list)")
    assert result.sources["themes"].endswith("(2 added from the top of that list)")
    assert any("the model chose 3; 7 added" in w for w in result.warnings)


def test_a_summary_string_is_accepted_in_sectioned_mode(server: FakeServer) -> None:
    # Without an enforced schema a small model writes each section, the summary included.
    rows = [{"evidence": CITE, **cells(row)} for row in SIGNALS]
    server.play(
        [
            json.dumps({"summary": SUMMARY}),
            json.dumps({"keywords": KEYWORDS}),
            json.dumps({"themes": THEMES}),
            json.dumps({"signals": rows}),
        ]
    )
    result = extract_from(server, strategy="sectioned", mode="json")
    assert len(server.requests) == 4
    assert result.card.summary == SUMMARY
    assert result.sources["summary"] == "model"
    assert result.sources["themes"] == "model"


async def test_async_gives_the_same_card_as_sync(server: FakeServer) -> None:
    script = ["not json", card_json()]
    server.play(script)
    sync = extract_article(ARTICLE, **extractor_options(server))
    sync_bodies = server.bodies

    server.play(script)
    extractor = make_extractor(server)
    try:
        method = await extractor.aextract(ARTICLE)
    finally:
        await extractor.aclose()

    server.play(script)
    function = await aextract_article(ARTICLE, **extractor_options(server))

    assert sync.card == method.card == function.card
    assert sync.card.title == TITLE
    assert sync.usage == method.usage == function.usage
    assert sync.usage.reasks == 1
    # The same decisions produce the same requests.
    assert server.bodies[2:4] == server.bodies[4:6] == sync_bodies


async def test_async_sectioned_run(server: FakeServer) -> None:
    server.play(section_answers())
    result = await aextract_article(ARTICLE, **extractor_options(server, strategy="sectioned"))
    assert len(server.requests) == 6
    assert result.card.themes == THEMES


async def test_async_refusal(server: FakeServer) -> None:
    server.play(refusal("No."))
    with pytest.raises(ExtractionError, match=r"refused.*: No\.$"):
        await aextract_article(ARTICLE, **extractor_options(server))
    assert len(server.requests) == 1


def test_the_inputs_metadata_travels_with_the_result(server: FakeServer) -> None:
    server.play(card_json())
    article = Article(text=ARTICLE, title="Sun", url="https://news.test/sun", date="2024-11-04")
    extractor = make_extractor(server)
    try:
        result = extractor.extract(article)
    finally:
        extractor.close()
    assert result.card.link == "https://news.test/sun"
    assert (result.article.title, result.article.url, result.article.date) == (
        "Sun",
        "https://news.test/sun",
        "2024-11-04",
    )
    assert result.as_dict()["article"]["date"] == "2024-11-04"
    assert result.prompt_version == extractor.prompts.version
