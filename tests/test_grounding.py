"""Every signal row points at the article text it comes from: alignment in every script, the
policy for rows the article does not support, names checked against the article, and the
text the offsets point into carried on every result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from extractor import Article, SignalCard
from extractor.batch.run import BatchOptions, extract_batch
from extractor.cli import main
from extractor.core.card import ANY_COUNT
from extractor.pipeline.ground import Aligner, card_names, ground_card, sentences
from tests.fakeserver import (
    ARTICLE,
    KEYWORDS,
    SUMMARY,
    THEMES,
    TITLE,
    FakeServer,
    card_dict,
    make_extractor,
    read_jsonl,
    reply,
    section_answers,
)

BODY = ARTICLE.split("\n", 2)[2]
ZH = (
    "国家能源局周一宣布，西藏已有四百个村庄接入太阳能微电网。"
    "这些微电网由当地合作社管理，电费通过手机支付。"
    "官员表示，该模式将在二〇二七年前推广到青海和新疆。"
    "批评者警告，高原地区的电池回收能力仍然不足。"
)
AR = (
    "أعلنت وزارة الطاقة المغربية يوم الاثنين أن أربعمئة قرية باتت تعمل بشبكات شمسية صغيرة. "
    "وتدير التعاونيات المحلية هذه الشبكات وتجمع الرسوم عبر الهاتف المحمول. "
    "وقال المسؤولون إن النموذج سيمتد إلى الجزائر وتونس بحلول عام 2027. "
    "وحذر منتقدون من أن قدرة إعادة تدوير البطاريات في المنطقة ما زالت محدودة."
)


def _quote_rows(text: str, cells: list[tuple[str, str, str, str]]) -> list[dict[str, Any]]:
    """One row per sentence of `text`, quoting it word for word."""
    quoted = [text[a:b] for a, b in sentences(text)]
    return [
        {"evidence": quote, "signal": s, "change": c, "horizon_10y": h, "driving_force": d}
        for quote, (s, c, h, d) in zip(quoted, cells, strict=False)
    ]


SCRIPTS = {
    "english": (
        BODY,
        [
            ("Villages run on solar microgrids", "Diesel to solar", "Rural solar", "Costs"),
            ("Development Bank funds programme", "Aid to finance", "Blended finance", "Aid"),
            ("Cooperatives own the grids", "State to cooperative", "Local utilities", "Money"),
        ],
    ),
    "chinese": (
        ZH,
        [
            ("西藏村庄接入太阳能微电网", "柴油到太阳能", "高原清洁电力", "成本下降"),
            ("合作社管理微电网", "国营到合作社", "社区电力", "手机支付普及"),
            ("模式推广到青海和新疆", "试点到推广", "全国推广", "政策支持"),
        ],
    ),
    "arabic": (
        AR,
        [
            ("قرية تعمل بشبكات شمسية", "من الديزل إلى الشمس", "ريف مضاء", "تكلفة"),
            (
                "التعاونيات المحلية تدير الشبكات",
                "من الدولة إلى التعاونيات",
                "مرافق محلية",
                "الهاتف",
            ),
            ("النموذج سيمتد إلى الجزائر وتونس", "من تجربة إلى توسع", "شبكات إقليمية", "سياسة"),
        ],
    ),
}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_verbatim_quotes_point_at_the_right_text_in_every_script(
    server: FakeServer, script: str
) -> None:
    text, cells = SCRIPTS[script]
    rows = _quote_rows(text, cells)
    server.play(reply(json.dumps(card_dict(signals=rows))))
    extractor = make_extractor(server, mode="json_schema", strategy="single", ungrounded="flag")
    try:
        result = extractor.extract(Article(text=text))
    finally:
        extractor.close()
    assert result.article.text == text
    for row, given in zip(result.card.signals, rows, strict=True):
        (span,) = row.evidence
        assert span.match == "exact", (script, row)
        assert span.start is not None and span.end is not None
        assert text[span.start : span.end] == span.text == given["evidence"]
    assert result.grounding.grounded_rate == 1.0
    assert len(server.requests) == 1


# --- alignment ---------------------------------------------------------------------------


def _one(aligner: Aligner, quote: str) -> Any:
    (span,) = aligner.quote(quote)
    return span


def test_a_quote_that_differs_in_case_quotes_dashes_or_spacing_is_exact() -> None:
    text = "The minister said the plan—a “green deal”—would start in 2027.  It's final."
    aligner = Aligner(text)
    span = _one(aligner, 'the plan - a "green deal" - would START in 2027')
    assert span.match == "exact"
    assert text[span.start : span.end] == span.text == "the plan—a “green deal”—would start in 2027"
    assert _one(aligner, "it’s final.").text == "It's final"


def test_a_quote_with_a_word_changed_is_fuzzy_and_points_at_the_article() -> None:
    aligner = Aligner(BODY)
    span = _one(aligner, "Local cooperatives run the grids and set tariffs through mobile money")
    assert span.match == "fuzzy"
    assert BODY[span.start : span.end] == span.text
    assert "cooperatives own the grids" in span.text


def test_an_ellipsis_gives_a_span_per_piece_and_an_invented_quote_none() -> None:
    aligner = Aligner(BODY)
    first, second = aligner.quote("400 villages in Turkana County ... replaced diesel generators")
    assert (first.match, second.match) == ("exact", "exact")
    assert BODY[first.start : first.end] == "400 villages in Turkana County"
    invented = _one(aligner, "The moon landing was broadcast live to every village in Kenya")
    assert invented.match == "none" and invented.start is None


def test_sentence_numbers_cite_whole_sentences_and_out_of_range_is_none() -> None:
    aligner = Aligner(BODY)
    (span,) = aligner.cite(3, ["Cooperatives own grids", "State to local", "x", "mobile"])
    assert span.match == "exact" and span.text.startswith("Local cooperatives own the grids")
    assert BODY[span.start : span.end] == span.text
    assert aligner.cite(99, ["anything"])[0].match == "none"
    assert aligner.numbered().splitlines()[0].startswith("[1] The Kenyan energy ministry")


def test_a_citation_that_says_nothing_about_its_row_does_not_support_it() -> None:
    aligner = Aligner(BODY)
    (span,) = aligner.cite(5, ["Spacecraft reach Mars orbit", "Probes to crews", "x", "y"])
    assert span.match == "none" and span.start is not None  # found, but no support
    assert aligner.cite(5, ["Battery recycling lags", "Waste to reuse", "x", "y"])[0].match == (
        "exact"
    )


def test_sentences_split_cjk_and_keep_abbreviations() -> None:
    text = "Mr. Smith met U.S. officials. They agreed! 北京宣布新政策。上海也跟进。"
    assert [text[a:b] for a, b in sentences(text)] == [
        "Mr. Smith met U.S. officials.",
        "They agreed!",
        "北京宣布新政策。",
        "上海也跟进。",
    ]


# --- names -------------------------------------------------------------------------------


def _card(**fields: Any) -> SignalCard:
    base = card_dict(
        signals=[
            {"signal": "Villages use solar", "change": "Diesel to solar", "horizon_10y": "Rural",
             "driving_force": "Costs"},
        ]
    )  # fmt: skip
    return SignalCard.model_validate({**base, **fields}, context={"limits": ANY_COUNT})


def test_names_the_article_never_says_are_unsupported() -> None:
    card = _card(
        summary="Kenyan officials and the African Development Bank back Waymosys in Turkana.",
        keywords=["Kenya", "Turkana County", "Ecuadroneo", "solar microgrids", "Tesla"],
    )
    grounding, warnings = ground_card(card, ARTICLE)
    assert set(grounding.unsupported_names) == {"Waymosys", "Ecuadroneo", "Tesla"}
    assert grounding.names == len(card_names(card))
    assert any("'Ecuadroneo' does not occur" in w for w in warnings)
    assert any("'Waymosys' does not occur" in w for w in warnings)
    supported, _ = ground_card(_card(), ARTICLE)
    assert supported.unsupported_names == ()


def test_title_case_words_count_as_names_only_when_the_card_names_them_elsewhere() -> None:
    card = _card(title="Solar Power Reaches Turkana Villages", summary=SUMMARY, keywords=KEYWORDS)
    names = card_names(card)
    assert "Turkana" in names and "Power" not in names and "Reaches" not in names


# --- the policy for unsupported rows -------------------------------------------------------

GOOD = {
    "evidence": "Local cooperatives own the grids and set tariffs through mobile money payments.",
    "signal": "Cooperatives own the grids",
    "change": "Utility to cooperative ownership",
    "horizon_10y": "Community-run rural utilities",
    "driving_force": "Mobile money payments",
}
OTHER = {
    "evidence": "Officials said the model will expand to Somalia and Ethiopia by 2027.",
    "signal": "Model expands to Somalia and Ethiopia",
    "change": "Pilot to regional model",
    "horizon_10y": "Regional solar networks",
    "driving_force": "Expansion plans",
}
INVENTED = {
    "evidence": "FedEx will deliver drones to every village by 2025.",
    "signal": "Drone deliveries reach villages",
    "change": "Roads to drones",
    "horizon_10y": "Drone logistics in rural areas",
    "driving_force": "Logistics automation",
}


def _answer(*rows: dict[str, Any]) -> str:
    return json.dumps(
        {"title": TITLE, "summary": SUMMARY, "keywords": KEYWORDS, "themes": THEMES,
         "signals": list(rows)}
    )  # fmt: skip


def _run(server: FakeServer, policy: str, *answers: str) -> Any:
    server.play([reply(answer) for answer in answers])
    extractor = make_extractor(server, mode="json_schema", strategy="single", ungrounded=policy)
    try:
        return extractor.extract(ARTICLE)
    finally:
        extractor.close()


def test_reask_once_fixes_an_unsupported_row(server: FakeServer) -> None:
    result = _run(server, "reask", _answer(GOOD, INVENTED), _answer(GOOD, OTHER))
    assert len(server.requests) == 2 and result.usage.reasks == 1
    assert all(row.grounded for row in result.card.signals)
    feedback = server.requests[1].messages[-1]["content"]
    assert "signal 2" in feedback and "is not in the article" in feedback
    assert not any("is not supported" in w for w in result.warnings)


def test_reask_then_flag_what_remains(server: FakeServer) -> None:
    result = _run(server, "reask", _answer(GOOD, INVENTED), _answer(GOOD, INVENTED))
    assert len(server.requests) == 2  # one re-ask, never more
    assert [row.grounded for row in result.card.signals] == [True, False]
    assert any("signal 2" in w and "not supported" in w for w in result.warnings)
    assert result.grounding.grounded_rate == 0.5


def test_flag_keeps_the_row_with_a_warning_and_keep_says_nothing(server: FakeServer) -> None:
    flagged = _run(server, "flag", _answer(GOOD, INVENTED))
    assert len(server.requests) == 1 and len(flagged.card.signals) == 2
    assert any("signal 2" in w for w in flagged.warnings)
    kept = _run(server, "keep", _answer(GOOD, INVENTED))
    assert len(server.requests) == 2
    assert not any(w.startswith("signal ") for w in kept.warnings)
    assert kept.card.signals[1].evidence[0].match == "none"  # still visible in the data


def test_drop_removes_unsupported_rows_and_asks_for_more_when_too_few(
    server: FakeServer,
) -> None:
    dropped = _run(server, "drop", _answer(GOOD, OTHER, INVENTED))
    assert len(server.requests) == 1 and len(dropped.card.signals) == 2
    assert any("dropped 1 rows" in w for w in dropped.warnings)
    refilled = _run(server, "drop", _answer(GOOD, INVENTED), _answer(OTHER))
    assert len(server.requests) == 1 + 2
    assert [row.signal for row in refilled.card.signals] == [GOOD["signal"], OTHER["signal"]]


# --- small models cite numbered sentences --------------------------------------------------


def test_a_small_model_picks_numbered_sentences_then_writes_a_row_from_each(
    server: FakeServer,
) -> None:
    server.play(section_answers())
    extractor = make_extractor(server, mode="json_object", strategy="sectioned")
    try:
        result = extractor.extract(ARTICLE)
    finally:
        extractor.close()
    pick = next(
        b for b in server.bodies if "sentences" in b["response_format"]["schema"]["properties"]
    )
    numbers = pick["response_format"]["schema"]["properties"]["sentences"]["items"]["enum"]
    assert numbers == [2, 3, 4, 5, 6]  # the headline is too short to carry a signal
    assert "[1] Solar Microgrids" in server.requests[2].user_text
    for signal in result.card.signals:
        (span,) = signal.evidence
        assert span.match == "exact" and result.article.text[span.start : span.end] == span.text
    assert result.grounding.grounded_rate == 1.0


# --- the text the offsets point into -----------------------------------------------------


def test_results_and_json_output_carry_the_text_the_model_saw(
    server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("EXTRACTOR_CACHE", str(tmp_path / "cache.sqlite"))
    article = tmp_path / "solar.txt"
    article.write_text(ARTICLE)
    endpoint = ["--base-url", server.base_url, "--model", "fake-model", "--mode", "json_schema"]
    assert main(["extract", str(article), "--format", "json", *endpoint]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["article"]["text"] == ARTICLE.strip()
    assert shown["grounding"]["grounded_rate"] == 1.0
    out = tmp_path / "results.jsonl"
    extract_batch(
        [str(article)], out, BatchOptions(closest=0), base_url=server.base_url,
        model="fake-model", mode="json_schema",
    )  # fmt: skip
    (record,) = read_jsonl(out)
    text = record["article"]["text"]
    for row in record["card"]["signals"]:
        for span in row["evidence"]:
            assert text[span["start"] : span["end"]] == span["text"]
    assert record["grounding"]["rows"] == 3


def test_an_unusable_answer_to_the_reask_keeps_the_answer_before_it(server: FakeServer) -> None:
    result = _run(server, "reask", _answer(GOOD, INVENTED), "not json", "still not json")
    assert len(server.requests) == 3
    assert [row.grounded for row in result.card.signals] == [True, False]
    assert any("kept the answer before it" in w for w in result.warnings)
    assert any("signal 2" in w and "not supported" in w for w in result.warnings)
