"""Validate stage: decoding answers, mechanical repairs with warnings, readable errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from extractor import CardLimits
from extractor.core.card import DEFAULT_LIMITS
from extractor.pipeline.validate import Invalid, check_section, decode_json

OBJ = {"keywords": ["Meta", "Llama"], "n": 1}

ARTICLE = (
    "South Australia now runs on rooftop solar for hours.\n"
    "Home batteries join virtual power plants.\n"
    "The grid operator can switch inverters off remotely. Renters gain little from the boom."
)
INSTRUCTIONS = (
    'Task: name 2 to 6 broad themes, such as "Artificial Intelligence" or "Energy Policy". '
    'Each row has "signal" (e.g. "Meta permits military use of Llama AI") and "driving_force" '
    '(e.g. "National security and AI competition").'
)
KEYWORDS = [
    "South Australia",
    "rooftop solar",
    "home batteries",
    "virtual power plants",
    "grid operator",
    "inverters",
]
ROWS = [
    {
        "signal": "Solar runs the grid",
        "change": "From coal to solar",
        "horizon_10y": "Fossil-free grid",
        "driving_force": "Cheap panels",
    },
    {
        "signal": "Remote inverter control",
        "change": "From passive to managed homes",
        "horizon_10y": "Grid-managed households",
        "driving_force": "Grid stability",
    },
]
CARD = {
    "title": "Rooftop Solar Runs South Australia",
    "summary": "South Australia runs on rooftop solar for hours. Batteries join power plants. "
    "Renters gain little.",
    "keywords": KEYWORDS,
    "themes": ["Energy Transition", "Grid Stability"],
    "signals": ROWS,
}


def _check(
    section: str, value: Any, limits: CardLimits = DEFAULT_LIMITS, **kwargs: str
) -> tuple[dict, list]:
    data = value if section == "card" else {section: value}
    return check_section(json.dumps(data), section, limits, **kwargs)


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(OBJ),
        f"```json\n{json.dumps(OBJ, indent=2)}\n```",
        f"```\n{json.dumps(OBJ)}\n```",
        f"  \n```json {json.dumps(OBJ)}```  ",
        f"Here is the JSON you asked for:\n{json.dumps(OBJ)}\nI hope this helps!",
        f"Sure! ```json\n{json.dumps(OBJ)}\n``` Done.",
    ],
    ids=["plain", "fenced_json", "fenced", "fenced_inline", "prose", "prose_and_fence"],
)
def test_decode_json(text: str) -> None:
    assert decode_json(text) == OBJ


def test_decode_json_keeps_non_objects() -> None:
    assert decode_json("[1, 2]") == [1, 2]
    assert decode_json('"text"') == "text"


@pytest.mark.parametrize(
    "text",
    ["", "not json at all", "{'single': 'quotes'}", "{broken", "} backwards {", 'Here: {"a": 1,}'],
)
def test_decode_json_rejects_garbage(text: str) -> None:
    with pytest.raises(Invalid) as caught:
        decode_json(text)
    assert len(caught.value.errors) == 1
    assert caught.value.errors[0].startswith("the answer is not valid JSON (")
    assert str(caught.value) == caught.value.errors[0]


def test_valid_section_has_no_warnings() -> None:
    assert _check("keywords", KEYWORDS) == ({"keywords": KEYWORDS}, [])


def _cells(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows checked without an article get no evidence; compare what the model wrote."""
    assert all(row["evidence"] == [] for row in rows)
    return [{k: v for k, v in row.items() if k != "evidence"} for row in rows]


def test_valid_card() -> None:
    values, warnings = _check("card", CARD, instructions=INSTRUCTIONS, article=ARTICLE)
    assert {**values, "signals": _cells(values["signals"])} == CARD and warnings == []


@pytest.mark.parametrize("section", ["keywords", "card"])
def test_duplicates_and_blanks_are_dropped_with_a_warning(section: str) -> None:
    keywords = [*KEYWORDS, "ROOFTOP  solar", "  ", "Inverters"]
    value = {**CARD, "keywords": keywords} if section == "card" else keywords
    values, warnings = _check(section, value)
    assert values["keywords"] == KEYWORDS
    assert warnings == ["keywords: dropped 3 blank or repeated items"]


def test_duplicate_signal_rows_and_placeholders_are_dropped() -> None:
    upper = {k: v.upper() for k, v in ROWS[0].items()}
    placeholder = {**ROWS[1], "change": "..."}
    values, warnings = _check("signals", [*ROWS, upper, placeholder])
    assert _cells(values["signals"]) == ROWS
    assert warnings == [
        "signals: dropped 1 items with empty cells",
        "signals: dropped 1 blank or repeated items",
    ]


@pytest.mark.parametrize("section", ["keywords", "card"])
def test_surplus_items_are_truncated_with_a_warning(section: str) -> None:
    keywords = [f"keyword {i}" for i in range(18)]
    value = {**CARD, "keywords": keywords} if section == "card" else keywords
    values, warnings = _check(section, value)
    assert values["keywords"] == keywords[:15]
    assert warnings == ["keywords: kept the first 15 of 18 items"]


def test_line_breaks_in_cells_and_title_are_flattened() -> None:
    rows = [{**ROWS[0], "signal": "Solar\nruns  the grid"}, ROWS[1]]
    values, _ = _check(
        "card", {**CARD, "title": "Rooftop Solar\nRuns South Australia", "signals": rows}
    )
    assert values["title"] == CARD["title"]
    assert values["signals"][0]["signal"] == "Solar runs the grid"


def test_line_breaks_in_themes_and_keywords_are_flattened() -> None:
    values, _ = _check("themes", ["Energy\nTransition", "Rural  Development"])
    assert values["themes"] == ["Energy Transition", "Rural Development"]
    values, _ = _check("keywords", ["solar\ngrid", "batteries", "Kenya", "tariffs", "diesel"])
    assert values["keywords"][0] == "solar grid"


@pytest.mark.parametrize(
    ("section", "value", "error"),
    [
        ("keywords", ["one", "two"], "keywords: needs at least 5 keywords, got 2"),
        (
            "keywords",
            ["one", "One", "ONE", "two", "three", "four"],
            "keywords: needs at least 5 keywords, got 4",
        ),
        ("themes", ["Energy"], "themes: needs at least 2 themes, got 1"),
        ("signals", ROWS[:1], "signals: needs at least 2 signals, got 1"),
        ("card", {**CARD, "themes": []}, "themes: needs at least 2 themes, got 0"),
    ],
)
def test_too_few_items_is_a_readable_error(section: str, value: Any, error: str) -> None:
    with pytest.raises(Invalid) as caught:
        _check(section, value)
    assert caught.value.errors == [error]


@pytest.mark.parametrize(
    ("section", "data", "errors"),
    [
        ("keywords", {"themes": ["a", "b"]}, ["missing key 'keywords'"]),
        (
            "card",
            {"title": "T", "keywords": KEYWORDS},
            ["missing key 'summary'", "missing key 'themes'", "missing key 'signals'"],
        ),
        ("keywords", ["Meta", "Llama"], ["expected a JSON object with the keys keywords"]),
        ("keywords", {"keywords": "Meta, Llama"}, ["keywords: Input should be a valid list"]),
        (
            "signals",
            {"signals": [{"signal": "a", "change": "b", "horizon_10y": "c"}, ROWS[1]]},
            ["signals.0.driving_force: Field required"],
        ),
    ],
    ids=["missing_key", "card_missing_keys", "not_object", "wrong_type", "missing_cell"],
)
def test_unusable_answers_raise_invalid(section: str, data: Any, errors: list[str]) -> None:
    with pytest.raises(Invalid) as caught:
        check_section(json.dumps(data), section, DEFAULT_LIMITS)
    assert caught.value.errors == errors


def test_other_keys_are_ignored_for_a_section() -> None:
    values, _ = check_section(
        json.dumps({"keywords": KEYWORDS, "note": "x"}), "keywords", DEFAULT_LIMITS
    )
    assert values == {"keywords": KEYWORDS}


@pytest.mark.parametrize("section", ["summary", "card"])
def test_summary_sentences_are_joined_without_fragments(section: str) -> None:
    sentences = [
        "South Australia runs on solar.",
        "Yes.",
        " Batteries join virtual power plants. ",
        "In short",
        "Renters gain little from it.",
    ]
    value = {**CARD, "summary": sentences} if section == "card" else sentences
    values, _ = _check(section, value)
    assert values["summary"] == (
        "South Australia runs on solar. Batteries join virtual power plants. "
        "Renters gain little from it."
    )


def test_summary_of_fragments_only_is_invalid() -> None:
    with pytest.raises(Invalid, match="summary must not be blank"):
        _check("summary", ["Yes.", "In short"])


@pytest.mark.parametrize("section", ["keywords", "card"])
def test_keywords_echoed_from_instructions_are_dropped(section: str) -> None:
    keywords = [*KEYWORDS, "Energy Policy", "artificial intelligence", "Solar"]
    value = {**CARD, "keywords": keywords} if section == "card" else keywords
    values, warnings = _check(section, value, instructions=INSTRUCTIONS, article=ARTICLE)
    # "Solar" is in the article (and not in the instructions), so it stays.
    assert values["keywords"] == [*KEYWORDS, "Solar"]
    assert warnings == ["keywords: dropped 2 items copied from the instructions"]


def test_keywords_in_both_instructions_and_article_are_kept() -> None:
    article = ARTICLE + " The Energy Policy debate continues."
    values, warnings = _check(
        "keywords", [*KEYWORDS, "Energy Policy"], instructions=INSTRUCTIONS, article=article
    )
    assert values["keywords"] == [*KEYWORDS, "Energy Policy"] and warnings == []


def test_themes_may_repeat_the_instructions() -> None:
    themes = ["Energy Policy", "Artificial Intelligence"]
    assert _check("themes", themes, instructions=INSTRUCTIONS, article=ARTICLE) == (
        {"themes": themes},
        [],
    )


def test_signal_rows_echoed_from_instructions_are_dropped() -> None:
    echoed = {**ROWS[0], "signal": "Meta permits military use of Llama AI"}
    values, warnings = _check(
        "signals", [*ROWS, echoed], instructions=INSTRUCTIONS, article=ARTICLE
    )
    assert _cells(values["signals"]) == ROWS
    assert warnings == ["signals: dropped 1 items copied from the instructions"]


@pytest.mark.parametrize("section", ["title", "card"])
def test_title_copied_from_instructions_is_invalid(section: str) -> None:
    title = "Meta Permits Military Use of Llama AI"
    value = {**CARD, "title": title} if section == "card" else title
    with pytest.raises(Invalid) as caught:
        _check(section, value, instructions=INSTRUCTIONS, article=ARTICLE)
    assert caught.value.errors == [
        f"{title!r} is copied from the instructions, not from the article"
    ]
    # The same title is fine when the article says it.
    values, _ = _check(section, value, instructions=INSTRUCTIONS, article=ARTICLE + " " + title)
    assert values["title"] == title


def test_keyword_wrapped_across_lines_in_the_article_is_kept() -> None:
    article = ARTICLE + " Officials cite national\nsecurity as a reason."
    values, warnings = _check(
        "keywords", [*KEYWORDS, "national security"], instructions=INSTRUCTIONS, article=article
    )
    assert "national security" in values["keywords"] and warnings == []


@pytest.mark.parametrize("limits", [CardLimits(keywords=(1, 2)), CardLimits(keywords=(1, None))])
def test_limits_are_respected(limits: CardLimits) -> None:
    values, warnings = _check("keywords", KEYWORDS, limits)
    high = limits.keywords[1]
    assert values["keywords"] == KEYWORDS[:high]
    assert warnings == ([f"keywords: kept the first 2 of {len(KEYWORDS)} items"] if high else [])


def test_items_stuck_in_a_word_loop_are_dropped() -> None:
    looped = "Germany, Germany, Germany, Germany, Germany"
    values, warnings = _check("keywords", [*KEYWORDS, looped])
    assert looped not in values["keywords"]
    assert warnings == ["keywords: dropped 1 items repeating one word"]
    rows = [*ROWS, {**ROWS[0], "signal": "Italy Italy Italy Italy more"}]
    values, warnings = _check("signals", rows)
    assert len(values["signals"]) == len(ROWS)
    assert "signals: dropped 1 items repeating one word" in warnings


def test_a_title_stuck_in_a_word_loop_is_re_asked() -> None:
    with pytest.raises(Invalid, match="repeats one word"):
        _check("title", "Heat heat heat heat pumps")


def test_ordinary_repetition_is_not_a_loop() -> None:
    values, warnings = _check("keywords", [*KEYWORDS[:4], "Very very good news"])
    assert "Very very good news" in values["keywords"] and warnings == []


def test_placeholder_items_are_dropped_like_blank_ones() -> None:
    values, warnings = _check("keywords", [*KEYWORDS, "...", "--"])
    assert values["keywords"] == KEYWORDS
    assert warnings == ["keywords: dropped 2 blank or repeated items"]
