"""Phrase similarity in [0, 1] for the metrics: embedding cosine when a model is available,
rapidfuzz's WRatio otherwise. Each backend has its own calibrated match threshold, because
their score distributions differ (see evals/calibration/)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np
from rapidfuzz import fuzz, process, utils

from extractor.backends.config import Endpoint
from extractor.backends.embeddings import (
    MINILM,
    Embedder,
    EndpointEmbedder,
    Vectors,
    minilm,
    minilm_available,
)
from extractor.core.errors import ConfigError
from extractor.core.text import fold

Matrix = np.ndarray[Any, np.dtype[np.float64]]

LEXICAL = "lexical-wratio"
# Measured on evals/calibration/pairs.jsonl by `extractor calibrate`; a test keeps these equal
# to the committed <backend>.json files.
THRESHOLDS = {MINILM: 0.55, LEXICAL: 0.45}
DEFAULT_THRESHOLD = 0.5

_PUNCT = re.compile(r"[^\w\s]")


def same_text(a: str, b: str) -> bool:
    """Equal up to case, spacing and punctuation: scored 1.0 whatever the backend says."""
    return _PUNCT.sub("", fold(a)).split() == _PUNCT.sub("", fold(b)).split()


class Similarity(Protocol):
    name: str
    semantic: bool
    threshold: float

    def prepare(self, texts: Iterable[str]) -> None: ...

    def matrix(self, a: Sequence[str], b: Sequence[str]) -> Matrix: ...


def _exact(a: Sequence[str], b: Sequence[str], scores: Matrix) -> Matrix:
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            if same_text(x, y):
                scores[i, j] = 1.0
    return np.clip(scores, 0.0, 1.0)


class EmbeddingSimilarity:
    """Cosine of sentence vectors, each text embedded once per process run."""

    semantic = True

    def __init__(self, embedder: Embedder, threshold: float | None = None) -> None:
        self.name = embedder.name
        self.threshold = (
            THRESHOLDS.get(self.name, DEFAULT_THRESHOLD) if threshold is None else (threshold)
        )
        self._embedder = embedder
        self._vectors: dict[str, Vectors] = {}

    def prepare(self, texts: Iterable[str]) -> None:
        """Embed many texts in one go: batching is what makes 100 card pairs take a second."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            for text, vector in zip(missing, self._embedder.embed(missing), strict=True):
                self._vectors[text] = vector

    def matrix(self, a: Sequence[str], b: Sequence[str]) -> Matrix:
        self.prepare([*a, *b])
        if not a or not b:
            return np.zeros((len(a), len(b)))
        left = np.stack([self._vectors[t] for t in a])
        right = np.stack([self._vectors[t] for t in b])
        return _exact(a, b, (left @ right.T).astype(np.float64))


class LexicalSimilarity:
    """Character-level fuzzy matching: no model, but blind to paraphrase (AUC about 0.9)."""

    semantic = False
    name = LEXICAL

    def __init__(self, threshold: float | None = None) -> None:
        self.threshold = THRESHOLDS[LEXICAL] if threshold is None else threshold

    def prepare(self, texts: Iterable[str]) -> None:
        return None

    def matrix(self, a: Sequence[str], b: Sequence[str]) -> Matrix:
        if not a or not b:
            return np.zeros((len(a), len(b)))
        scores = process.cdist(a, b, scorer=fuzz.WRatio, processor=utils.default_process)
        return _exact(a, b, np.asarray(scores, dtype=np.float64) / 100.0)


SCORERS = ("auto", "minilm", "lexical", "endpoint")


def make_similarity(
    scorer: str = "auto",
    threshold: float | None = None,
    endpoint: Endpoint | None = None,
) -> Similarity:
    """`auto` takes MiniLM when the semantic extra is installed, else the lexical fallback
    (which every report then flags)."""
    if scorer == "auto":
        scorer = "minilm" if minilm_available() else "lexical"
    if scorer == "minilm":
        return EmbeddingSimilarity(minilm(), threshold)
    if scorer == "lexical":
        return LexicalSimilarity(threshold)
    if scorer == "endpoint":
        if endpoint is None or endpoint.embedded:
            raise ConfigError("the endpoint scorer needs --embeddings-base-url and a model")
        return EmbeddingSimilarity(EndpointEmbedder(endpoint), threshold)
    raise ConfigError(f"unknown scorer {scorer!r}; choose one of {', '.join(SCORERS)}")
