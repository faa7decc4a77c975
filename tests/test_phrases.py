"""Candidate keywords: a small model behind a grammar may only choose among these, so they
must be the article's own words, its names first-class, and never a stop word."""

from __future__ import annotations

from extractor.core.card import DEFAULT_LIMITS
from extractor.core.schema import card_schema
from extractor.pipeline.phrases import key_phrases
from tests.fakeserver import ARTICLE


def test_phrases_are_the_articles_names_and_terms_most_frequent_first() -> None:
    text = (
        "Lockheed Martin builds drones. The drones fly far. Lockheed Martin sells drones to "
        "the Army. Battery storage grows, and battery storage gets cheaper. Said the Army."
    )
    phrases = key_phrases(text)
    assert phrases[:4] == ["Lockheed Martin", "Army", "battery storage", "drones"]
    assert not {"Battery", "battery", "storage"} & set(phrases)  # the recurring pair holds them
    assert not {"The", "Said", "the", "and", "far"} & set(phrases)  # stop words, short words
    assert all(p.casefold() in text.casefold() for p in phrases)


def test_one_entry_per_word_whatever_its_case_or_number_no_calendar_words_no_headline() -> None:
    text = (
        "Writers Win New Limits On Studio AI\n\n"  # a headline in title case is no name
        "Writers struck in May. The writers won. A writer said studios gave way on Monday. "
        "Batteries got cheaper this year, and each battery lasts longer."
    )
    phrases = key_phrases(text)
    assert [p for p in phrases if p.casefold().startswith("writer")] == ["writers"]
    assert len([p for p in phrases if p.casefold().startswith("batter")]) == 1
    assert not {"May", "Monday", "year"} & set(phrases)
    assert not [p for p in phrases if "Studio" in p]


def test_phrases_are_capped_in_number_and_length() -> None:
    phrases = key_phrases(ARTICLE, limit=7)
    assert len(phrases) == 7
    assert all(len(p) <= 40 for p in key_phrases(ARTICLE + " " + "Averylongname" * 5))


def test_the_keywords_schema_holds_the_choices() -> None:
    schema = card_schema(DEFAULT_LIMITS, ("keywords",), choices={"keywords": ["Kenya", "solar"]})
    assert schema["properties"]["keywords"]["items"] == {
        "type": "string",
        "enum": ["Kenya", "solar"],
    }
    free = card_schema(DEFAULT_LIMITS, ("keywords",))
    assert "enum" not in free["properties"]["keywords"]["items"]
