"""Validators of `CardDraft` and `SignalCard`: blanks, duplicates, placeholders, counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from extractor import CardLimits, SignalCard
from extractor.core.card import ANY_COUNT, DEFAULT_LIMITS, CardDraft


def _row(n: int) -> dict[str, str]:
    return {
        "signal": f"Signal {n}",
        "change": f"From {n} to more",
        "horizon_10y": f"Horizon {n}",
        "driving_force": f"Force {n}",
    }


def _data(keywords: int = 5, themes: int = 2, signals: int = 2) -> dict[str, Any]:
    return {
        "title": "Solar Reshapes The Grid",
        "summary": "Rooftop solar runs the grid. Batteries keep it stable. Others watch closely.",
        "keywords": [f"keyword {i}" for i in range(keywords)],
        "themes": [f"theme {i}" for i in range(themes)],
        "signals": [_row(i) for i in range(signals)],
    }


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


@pytest.mark.parametrize("model", [CardDraft, SignalCard])
def test_valid_card_is_cleaned(model: type[CardDraft]) -> None:
    data = _data()
    data["title"] = "  Solar Reshapes The Grid \n"
    data["summary"] = "Rooftop solar runs the grid.\nBatteries   keep it stable."
    data["keywords"][0] = "  keyword 0  "
    card = model.model_validate(data)
    assert card.title == "Solar Reshapes The Grid"
    assert card.summary == "Rooftop solar runs the grid. Batteries keep it stable."
    assert card.keywords[0] == "keyword 0"
    assert card.signals[1].cells() == ("Signal 1", "From 1 to more", "Horizon 1", "Force 1")


REJECTED = {
    "blank_keyword": (_set(("keywords", 0), "   "), "keywords", "each keyword must not be blank"),
    "placeholder_keyword": (_set(("keywords", 1), "..."), "keywords", "placeholder such as '...'"),
    "blank_theme": (_set(("themes", 0), ""), "themes", "each theme must not be blank"),
    "duplicate_keyword_case": (
        _set(("keywords",), ["AI", "ai", "Meta", "Llama", "Amazon"]),
        "keywords",
        "duplicate keyword 'ai'",
    ),
    "duplicate_keyword_spaces": (
        _set(("keywords",), ["US government", "us  Government", "a1", "b1", "c1"]),
        "keywords",
        "duplicate keyword",
    ),
    "duplicate_theme": (
        _set(("themes",), ["Energy Policy", "ENERGY POLICY"]),
        "themes",
        "duplicate theme",
    ),
    "duplicate_signal_row": (
        _set(("signals", 1), {k: v.upper() for k, v in _row(0).items()}),
        "signals",
        "duplicate signal row",
    ),
    "placeholder_cell": (_set(("signals", 0, "change"), "..."), "signals.0.change", "placeholder"),
    "dash_cell": (_set(("signals", 1, "horizon_10y"), "—"), "signals.1.horizon_10y", "placeholder"),
    "newline_in_cell": (
        _set(("signals", 0, "signal"), "two\nlines"),
        "signals.0.signal",
        "one line",
    ),
    "cr_in_keyword": (
        _set(("keywords", 2), "two\rlines"),
        "keywords",
        "each keyword must be one line",
    ),
    "newline_in_title": (_set(("title",), "Two\nLines"), "title", "one line"),
    "placeholder_title": (_set(("title",), "..."), "title", "placeholder"),
    "blank_summary": (_set(("summary",), " \n "), "summary", "blank"),
    "summary_two_paragraphs": (
        _set(("summary",), "First paragraph.\n\nSecond paragraph."),
        "summary",
        "one paragraph",
    ),
    "summary_blank_line_with_spaces": (
        _set(("summary",), "First.\n  \t\nSecond."),
        "summary",
        "one paragraph",
    ),
    "extra_field": (_set(("mood",), "happy"), "mood", "Extra inputs"),
    "extra_cell": (_set(("signals", 0, "note"), "x"), "signals.0.note", "Extra inputs"),
    "missing_cell": (
        lambda d: d["signals"][0].pop("driving_force"),
        "signals.0.driving_force",
        "required",
    ),
}


@pytest.mark.parametrize("name", REJECTED)
def test_invalid_values_are_rejected(name: str) -> None:
    change, loc, message = REJECTED[name]
    data = _data()
    change(data)
    with pytest.raises(ValidationError) as caught:
        CardDraft.model_validate(data)
    errors = caught.value.errors()
    assert [".".join(map(str, e["loc"])) for e in errors] == [loc]
    assert message in errors[0]["msg"]


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ({"keywords": 4}, "needs at least 5 keywords, got 4"),
        ({"keywords": 16}, "allows at most 15 keywords, got 16"),
        ({"themes": 1}, "needs at least 2 themes, got 1"),
        ({"themes": 7}, "allows at most 6 themes, got 7"),
        ({"signals": 1}, "needs at least 2 signals, got 1"),
        ({"signals": 9}, "allows at most 8 signals, got 9"),
        ({"keywords": 0}, "needs at least 5 keywords, got 0"),
    ],
)
def test_default_limits_reject_out_of_range_counts(counts: dict[str, int], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CardDraft.model_validate(_data(**counts))


@pytest.mark.parametrize(
    "counts",
    [{"keywords": 5, "themes": 2, "signals": 2}, {"keywords": 15, "themes": 6, "signals": 8}],
)
def test_default_limits_are_inclusive(counts: dict[str, int]) -> None:
    card = CardDraft.model_validate(_data(**counts))
    assert (len(card.keywords), len(card.themes), len(card.signals)) == tuple(counts.values())


LIMITS = CardLimits(keywords=(1, 3), themes=(1, 1), signals=(1, None))


@pytest.mark.parametrize(
    ("counts", "error"),
    [
        ({"keywords": 1, "themes": 1, "signals": 1}, None),
        ({"keywords": 3, "themes": 1, "signals": 20}, None),
        ({"keywords": 4, "themes": 1, "signals": 1}, "allows at most 3 keywords, got 4"),
        ({"keywords": 0, "themes": 1, "signals": 1}, "needs at least 1 keywords, got 0"),
        ({"keywords": 2, "themes": 2, "signals": 1}, "allows at most 1 themes, got 2"),
        ({"keywords": 2, "themes": 1, "signals": 0}, "needs at least 1 signals, got 0"),
    ],
)
@pytest.mark.parametrize("model", [CardDraft, SignalCard])
def test_limits_come_from_the_validation_context(
    model: type[CardDraft], counts: dict[str, int], error: str | None
) -> None:
    data = _data(**counts)
    if error is None:
        card = model.model_validate(data, context={"limits": LIMITS})
        assert len(card.keywords) == counts["keywords"]
        with pytest.raises(ValidationError):  # the same data breaks the default limits
            model.model_validate(data)
    else:
        with pytest.raises(ValidationError, match=error):
            model.model_validate(data, context={"limits": LIMITS})


def test_any_count_accepts_empty_lists_but_still_checks_form() -> None:
    card = CardDraft.model_validate(_data(0, 0, 0), context={"limits": ANY_COUNT})
    assert card.keywords == card.themes == card.signals == []
    with pytest.raises(ValidationError, match="duplicate keyword"):
        CardDraft.model_validate(
            {**_data(0, 0, 0), "keywords": ["x", "X"]}, context={"limits": ANY_COUNT}
        )


def test_limits_bounds_and_defaults() -> None:
    assert DEFAULT_LIMITS.bounds("keywords") == (5, 15)
    assert DEFAULT_LIMITS.bounds("themes") == (2, 6)
    assert DEFAULT_LIMITS.bounds("signals") == (2, 8)
    assert LIMITS.bounds("signals") == (1, None)


def test_from_draft_adds_pipeline_fields_without_count_limits() -> None:
    draft = CardDraft.model_validate(_data(1, 1, 1), context={"limits": LIMITS})
    card = SignalCard.from_draft(draft, link="https://example.com/a")
    assert card.link == "https://example.com/a"
    assert card.keywords == draft.keywords and card.signals == draft.signals
    assert card.source is None and card.closest == []
