"""Theme choices for small models: the broad fields of a fixed vocabulary nearest the article.

A 135M model asked to name themes writes "Theme 1: Trade" or a phrase of the article; asked to
choose among broad fields, it answers in the vocabulary analysts use. MiniLM ranks the
vocabulary (`prompts/themes.json`) against the article's opening, where a news article states
what it is about; the model then chooses among the nearest few. Without the semantic extra
the choice is among the whole vocabulary, in its file order.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np

from extractor.backends.embeddings import Embedder, MiniLM, Vectors, minilm_available

CHOICES = 8  # how many of the nearest fields the model chooses among
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


def theme_choices(text: str, vocabulary: Sequence[str], model: Embedder | None) -> list[str]:
    """The `CHOICES` fields of `vocabulary` nearest the article, nearest first."""
    if model is None or len(vocabulary) <= CHOICES:
        return list(vocabulary)
    fields = tuple(vocabulary)
    scores = _vectors(model, fields) @ model.embed([text[:_OPENING]])[0]
    return [fields[i] for i in np.argsort(-scores, kind="stable")[:CHOICES]]
