"""Small models choose their themes among broad fields ranked against the article."""

from __future__ import annotations

import pytest

from extractor.backends.embeddings import MiniLM
from extractor.pipeline.prompting import Prompts
from extractor.pipeline.themes import CHOICES, theme_choices
from tests.fakeserver import ARTICLE

CARS = """Chinese Carmakers Open Factories in Hungary

BYD and Great Wall are building car plants near Szeged to sell electric vehicles in Europe
without paying the EU's new tariffs on imported cars. The factories will make batteries and
cars for the European market from 2026."""


def test_the_vocabulary_is_short_distinct_fields() -> None:
    fields = Prompts().themes()
    assert len(fields) > 2 * CHOICES
    assert len({f.casefold() for f in fields}) == len(fields)
    assert all(1 <= len(f.split()) <= 3 and len(f) <= 40 for f in fields)


def test_without_an_embedder_the_choice_is_the_whole_vocabulary_in_order() -> None:
    fields = Prompts().themes()
    assert theme_choices(ARTICLE, fields, None) == list(fields)


@pytest.mark.native("minilm")
def test_the_fields_nearest_the_article_come_first() -> None:
    fields = Prompts().themes()
    model = MiniLM(threads=1)
    solar = theme_choices(ARTICLE, fields, model)
    cars = theme_choices(CARS, fields, model)
    assert len(solar) == len(cars) == CHOICES
    assert set(solar) <= set(fields)
    assert {"Renewable Energy", "Energy Transition"} & set(solar[:3])
    assert {"Electric Vehicles", "Global Trade", "Manufacturing"} & set(cars[:3])
    assert "Sport" not in solar + cars
