"""Small models choose among shortlists ranked by MiniLM: themes among broad fields nearest
the article, a row's change, horizon and driving force among the entries nearest its
sentence."""

from __future__ import annotations

import pytest

from extractor.backends.embeddings import MiniLM
from extractor.pipeline.prompting import Prompts
from extractor.pipeline.shortlist import CELL_CHOICES, THEME_CHOICES, nearest, nearest_each
from tests.fakeserver import ARTICLE

CARS = """Chinese Carmakers Open Factories in Hungary

BYD and Great Wall are building car plants near Szeged to sell electric vehicles in Europe
without paying the EU's new tariffs on imported cars. The factories will make batteries and
cars for the European market from 2026."""


def _vocabularies() -> dict[str, tuple[str, ...]]:
    return {"themes": Prompts().themes(), **Prompts().cell_vocabularies()}


@pytest.mark.parametrize("name", ["themes", "change", "horizon_10y", "driving_force"])
def test_the_vocabularies_are_short_distinct_entries(name: str) -> None:
    entries = _vocabularies()[name]
    assert len(entries) > 2 * max(THEME_CHOICES, CELL_CHOICES)
    assert len({e.casefold() for e in entries}) == len(entries)
    longest = 3 if name == "themes" else 6
    assert all(1 <= len(e.split()) <= longest and len(e) <= 50 for e in entries)
    assert all('"' not in e and "|" not in e for e in entries)  # safe in a grammar and a table
    assert not any(ch.isdigit() for e in entries for ch in e)  # no figure an article must hold
    if name == "change":
        assert all(" to " in e for e in entries)  # from the old state to the new, as a seed row


def test_the_row_vocabularies_share_no_entry() -> None:
    cells = Prompts().cell_vocabularies().values()
    assert sum(len(entries) for entries in cells) == len(set().union(*cells))


def test_without_an_embedder_the_choice_is_everything_in_order() -> None:
    fields = Prompts().themes()
    assert nearest(ARTICLE, fields, None, THEME_CHOICES) == list(fields)
    cells = Prompts().cell_vocabularies()
    taken = {"change": {cells["change"][1]}}
    offered = nearest_each(ARTICLE, cells, None, CELL_CHOICES, taken)
    assert offered["change"] == [cells["change"][0], *cells["change"][2:]]
    assert offered["horizon_10y"] == list(cells["horizon_10y"])


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
    floods = "Record floods and heatwaves hit the region again this summer."
    offered = nearest_each(floods, Prompts().cell_vocabularies(), model, CELL_CHOICES)
    assert [len(entries) for entries in offered.values()] == [CELL_CHOICES] * 3
    assert {"Climate change", "More frequent extreme weather"} & set(offered["driving_force"])
    # What an earlier row took is not offered again; the next nearest takes its place.
    taken = {cell: {entries[0]} for cell, entries in offered.items()}
    again = nearest_each(floods, Prompts().cell_vocabularies(), model, CELL_CHOICES, taken)
    assert again == {cell: [*entries[1:], again[cell][-1]] for cell, entries in offered.items()}
    assert all(again[cell][-1] not in offered[cell] for cell in offered)
