"""Candidate keywords of an article: its names and its most frequent content words and word
pairs. A small model asked for keywords invents ("Tech News", "Finance"); held by a grammar to
choose among these, every keyword it gives is the article's own."""

from __future__ import annotations

import re
from collections import Counter

from extractor.pipeline.ground import COMMON_WORDS

MAX_CANDIDATES = 40
_MAX_CHARS = 40  # the schema's cap on one keyword
_WORD = re.compile(r"[^\W\d_][\w'\u2019-]*[^\W_]|[^\W\d_]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_POSSESSIVE = re.compile(r"['\u2019]s$")
_NAME_WEIGHT, _PAIR_WEIGHT, _WORD_WEIGHT = 4, 3, 2  # a name or a pair says more than a word


def key_phrases(text: str, limit: int = MAX_CANDIDATES) -> list[str]:
    """Up to `limit` phrases, the most frequent first (so a model that picks from the top
    still picks well). Names are runs of capitalised words, less a sentence-initial common
    word; terms are lowercase words of four letters or more, alone or in pairs."""
    counts: Counter[str] = Counter()
    for sentence in _SENTENCE.split(text):
        words = [_POSSESSIVE.sub("", w) for w in _WORD.findall(sentence)]
        for name in _names(words):
            counts[name] += _NAME_WEIGHT
        for i, word in enumerate(words):
            if not _term(word):
                continue
            counts[word] += _WORD_WEIGHT
            if i + 1 < len(words) and _term(words[i + 1]):
                counts[f"{word} {words[i + 1]}"] += _PAIR_WEIGHT
    return [p for p, _ in counts.most_common() if len(p) <= _MAX_CHARS][:limit]


def _term(word: str) -> bool:
    return word.islower() and len(word) >= 4 and word not in COMMON_WORDS


def _names(words: list[str]) -> list[str]:
    names: list[str] = []
    run: list[str] = []
    for i, word in enumerate([*words, ""]):
        if word[:1].isupper() and not (i == 0 and word.lower() in COMMON_WORDS):
            run.append(word)
            continue
        if run and not (len(run) == 1 and run[0].lower() in COMMON_WORDS):
            names.append(" ".join(run))
        run = []
    return names
