"""Shortlists for small models: the entries of a fixed vocabulary nearest a text, by MiniLM.

A 135M model asked to name themes writes "Theme 1: Trade" or a phrase of the article, and
asked for a row's change, horizon or driving force it writes a clause that trails off
("Lima is a new model that has been in to the world"); asked to choose among a few broad
entries, it answers in the vocabulary analysts use. MiniLM ranks the vocabulary
(`prompts/themes.json`, and `changes.json`, `horizons.json`, `drivers.json` for the rows)
against the text (the article's opening, where a news article states what it is about, or a
row's sentence with its headline); the model then chooses among the nearest few. Without
the semantic extra the choice is among the whole vocabulary, in its file order.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from functools import cache

import numpy as np

from extractor.backends.embeddings import Embedder, MiniLM, Vectors, minilm_available

THEME_CHOICES = 8  # how many of the nearest fields the model chooses its themes among
CELL_CHOICES = 3  # how many of a vocabulary's nearest entries a row's cell is chosen among
_OPENING = 2000  # characters of the article ranked against; MiniLM reads 256 tokens anyway


@cache
def embedder() -> Embedder | None:
    """One single-threaded MiniLM session per process, beside the model's own threads."""
    return MiniLM(threads=1) if minilm_available() else None


_VECTORS: dict[tuple[int, tuple[str, ...]], Vectors] = {}


def _vectors(model: Embedder, vocabulary: tuple[str, ...]) -> Vectors:
    # Once per embedder and vocabulary: the vocabulary is the same for every article.
    key = (id(model), vocabulary)
    if key not in _VECTORS:
        _VECTORS[key] = model.embed(list(vocabulary))
    return _VECTORS[key]


def nearest(text: str, vocabulary: Sequence[str], model: Embedder | None, count: int) -> list[str]:
    """The `count` entries of `vocabulary` nearest `text` (its first characters), nearest
    first; the whole vocabulary without a model."""
    return nearest_each(text, {"": vocabulary}, model, count)[""]


def nearest_each(
    text: str,
    vocabularies: Mapping[str, Sequence[str]],
    model: Embedder | None,
    count: int,
    taken: Mapping[str, Collection[str]] | None = None,
) -> dict[str, list[str]]:
    """`nearest` for several vocabularies, embedding `text` once; entries `taken` (by the
    card's earlier rows) are not offered again."""
    taken = taken or {}
    shortlists = {
        name: [e for e in entries if e not in taken.get(name, ())]
        for name, entries in vocabularies.items()
    }
    if model is None or all(len(entries) <= count for entries in shortlists.values()):
        return shortlists
    vector = model.embed([text[:_OPENING]])[0]
    for name, entries in vocabularies.items():
        if len(shortlists[name]) > count:
            scores = _vectors(model, tuple(entries)) @ vector
            ranked = [entries[i] for i in np.argsort(-scores, kind="stable")]
            shortlists[name] = [e for e in ranked if e not in taken.get(name, ())][:count]
    return shortlists
