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
_NAME_WEIGHT, _PAIR_WEIGHT, _WORD_WEIGHT = 6, 5, 2  # per occurrence
# Calendar words and vague measures are frequent in news and name no subject.
_VAGUE_WORDS = (
    "january february march april june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday year years month months week "
    "weeks today first second third last above below including become became among around "
    "large larger small smaller openly already percent"
)
_VAGUE = frozenset(_VAGUE_WORDS.split())


def key_phrases(text: str, limit: int = MAX_CANDIDATES) -> list[str]:
    """Up to `limit` phrases, the weightiest first (so a model that picks from the top still
    picks well). Names are runs of capitalised words, less a word capitalised only because
    it starts a sentence; terms are lowercase words of four letters or more, alone or as a
    pair that recurs. Names and recurring pairs weigh most: a seed card's keywords are
    mostly names and two-word terms."""
    counts: Counter[str] = Counter()
    pairs: Counter[str] = Counter()
    for sentence in _SENTENCE.split(text):
        words = [_POSSESSIVE.sub("", w) for w in _WORD.findall(sentence)]
        if len(words) > 1 and words[0].istitle() and not words[1][:1].isupper():
            words[0] = words[0].lower()  # capitalised for the sentence, not as a name
        for name in _names(words):
            if name.lower() not in _VAGUE:
                counts[name] += _NAME_WEIGHT
        for i, word in enumerate(words):
            if not _term(word):
                continue
            counts[word] += _WORD_WEIGHT
            if i + 1 < len(words) and _term(words[i + 1]):
                pairs[f"{word} {words[i + 1]}"] += 1
    for pair, seen in pairs.items():
        if seen < 2:
            continue  # a pair met once is chance, not a term of the article
        counts[pair] += _PAIR_WEIGHT * seen
        for word in pair.split():  # the words of a recurring pair mostly stand for it
            counts[word] -= _WORD_WEIGHT * seen
    merged = _merge_forms(counts)
    return [p for p, _ in merged.most_common() if len(p) <= _MAX_CHARS][:limit]


def _merge_forms(counts: Counter[str]) -> Counter[str]:
    """One entry per word whatever its case or number ("Writers", "writers", "writer"),
    under its most frequent form."""
    groups: dict[str, list[str]] = {}
    for phrase in counts:
        key = phrase.casefold()
        if key.endswith("ies") and len(key) > 4:
            key = key[:-3] + "y"
        elif key.endswith("s") and len(key) > 3 and not key.endswith("ss"):
            key = key[:-1]
        groups.setdefault(key, []).append(phrase)
    merged: Counter[str] = Counter()
    for forms in groups.values():
        best = max(forms, key=lambda form: counts[form])
        merged[best] = sum(counts[form] for form in forms)
    return Counter({phrase: n for phrase, n in merged.items() if n > 0})


def _term(word: str) -> bool:
    return word.islower() and len(word) >= 4 and word not in COMMON_WORDS and word not in _VAGUE


def _names(words: list[str]) -> list[str]:
    names: list[str] = []
    run: list[str] = []
    for i, word in enumerate([*words, ""]):
        if word[:1].isupper() and not (i == 0 and word.lower() in COMMON_WORDS):
            run.append(word)
            continue
        if run and not (len(run) == 1 and run[0].lower() in COMMON_WORDS) and len(run) <= 4:
            names.append(" ".join(run))  # a longer run is a headline in title case
        run = []
    return names
