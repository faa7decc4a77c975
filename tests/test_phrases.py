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
    assert phrases[:3] == ["Lockheed Martin", "Army", "drones"]
    assert "battery storage" in phrases
    assert not {"The", "Said", "the", "and", "far"} & set(phrases)  # stop words, short words
    assert all(p.casefold() in text.casefold() for p in phrases)


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
