"""Small models choose among shortlists ranked by MiniLM: themes among broad fields nearest
the article, a row's driving force among the forces nearest its sentence."""

from __future__ import annotations

import pytest

from extractor.backends.embeddings import MiniLM
from extractor.pipeline.prompting import Prompts
from extractor.pipeline.shortlist import DRIVER_CHOICES, THEME_CHOICES, nearest
from tests.fakeserver import ARTICLE

CARS = """Chinese Carmakers Open Factories in Hungary

BYD and Great Wall are building car plants near Szeged to sell electric vehicles in Europe
without paying the EU's new tariffs on imported cars. The factories will make batteries and
cars for the European market from 2026."""


@pytest.mark.parametrize("vocabulary", ["themes", "drivers"])
def test_the_vocabularies_are_short_distinct_entries(vocabulary: str) -> None:
    entries = getattr(Prompts(), vocabulary)()
    assert len(entries) > 2 * max(THEME_CHOICES, DRIVER_CHOICES)
    assert len({e.casefold() for e in entries}) == len(entries)
    longest = 3 if vocabulary == "themes" else 6
    assert all(1 <= len(e.split()) <= longest and len(e) <= 40 for e in entries)
    assert all('"' not in e and "|" not in e for e in entries)  # safe in a grammar and a table


def test_without_an_embedder_the_choice_is_everything_in_order() -> None:
    fields = Prompts().themes()
    assert nearest(ARTICLE, fields, None, THEME_CHOICES) == list(fields)


@pytest.mark.native("minilm")
def test_the_entries_nearest_the_text_come_first() -> None:
    fields = Prompts().themes()
    model = MiniLM(threads=1)
    solar = nearest(ARTICLE, fields, model, THEME_CHOICES)
    cars = nearest(CARS, fields, model, THEME_CHOICES)
    assert len(solar) == len(cars) == THEME_CHOICES
    assert set(solar) <= set(fields)
    assert {"Renewable Energy", "Energy Transition"} & set(solar[:3])
    assert {"Electric Vehicles", "Global Trade", "Manufacturing"} & set(cars[:3])
    assert "Sport" not in solar + cars
    drivers = nearest(
        "Record floods and heatwaves hit the region again this summer.",
        Prompts().drivers(),
        model,
        DRIVER_CHOICES,
    )
    assert len(drivers) == DRIVER_CHOICES
    assert {"Climate change", "More frequent extreme weather"} & set(drivers[:3])
