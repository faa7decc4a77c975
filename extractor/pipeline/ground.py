"""Ground stage: tie each signal row to the passage of the article it comes from, by
character offsets into the exact text the model was sent, and check the card's names
against the article. Nothing here asks a model; it is fast enough to run on every card.

A row's citation is a verbatim quote (capable models) or the number of one of the
article's numbered sentences (small models, whose grammar can only name a real sentence).
A quote is aligned in three steps, each only when the one before found nothing:

1. exact: the quote as given (surrounding quote marks and punctuation aside);
2. normalised: case, quote marks, dashes and hyphens, full-width forms and spacing folded,
   on a copy of the article folded the same way character for character, so offsets into
   the copy are offsets into the article;
3. fuzzy: rapidfuzz's best partial alignment of the folded quote within the folded article,
   snapped to word ends where the script has spaces, and accepted when it scores at least
   `FUZZY_SCORE` (an Indel similarity, 0-100) and holds at least `FUZZY_COVERAGE` of the
   quote's words (character pairs in scripts without spaces).

Quotes with an ellipsis are aligned piece by piece, so one row can have several spans. The
alignment is character-based, so it works alike in scripts without spaces (Chinese,
Japanese, Thai) and with them. A passage found but sharing no content word (no character
pair, in scripts without spaces) with the row it should support is `none`: a citation that
exists is not yet evidence for the row.

The thresholds are measured on the 16 gold articles (`benchmarks/grounding.py`): 96 sentences
with a word dropped, a word replaced and case and quote marks changed score 72-99 (5th
percentile 85) against their own article, with 0.57-0.98 of their words in the window; 96
sentences of other articles score 45-55, with at most 0.43 of their words. At 75 and 0.75,
97.9% of the first are found and none of the second.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cached_property

from rapidfuzz import fuzz

from extractor.core.card import Evidence, SignalCard
from extractor.core.result import Grounding

FUZZY_SCORE = 75.0
FUZZY_COVERAGE = 0.75
_FUZZY_MIN_CHARS = 12  # shorter citations match too much by chance to be aligned loosely

# One character for one character, so folded offsets stay article offsets.
_FOLD = {
    **dict.fromkeys(map(ord, "\u2018\u2019\u201a\u201b\u2032\u02bc`\u00b4"), "'"),
    **dict.fromkeys(map(ord, "\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb"), '"'),
    **dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u00ad"), "-"),
    **dict.fromkeys(map(ord, "\u00a0\u2007\u2009\u200a\u202f\u3000\t\r\n"), " "),
    **{code: chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)},  # full-width ASCII
}
_GAP = r"[\s\-]+"
_ELLIPSIS = re.compile(r"\s*(?:\u2026|\.\.\.+|\[\s*(?:\u2026|\.\.\.)\s*\])\s*")
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")
_MARKER = re.compile(r"^\s*\[?(\d{1,4})\]?\s*$")
# Sentence ends: . ! ? (and the Arabic ?) before a space; the CJK full stops need none.
_CLOSERS = "[\"'\u201d\u2019\u300d)\\]]*"
# The lookahead names every character a match starts with, so the engine skips to the next
# one instead of trying each alternative at every position: twice as fast, the same matches.
_END = re.compile(
    r"(?=[.!?\u061f\u3002\uff01\uff1f\n])"
    rf"(?:[.!?\u061f]{_CLOSERS}\s+|[\u3002\uff01\uff1f]{_CLOSERS}\s*|\n+)"
)
_ABBREVIATION = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|vs|etc|Inc|Ltd|Co|Corp|No|Gen|Gov|Sen|Rep|Jan|Feb"
    r"|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)|\b[A-Z]|\b(?:[A-Za-z]\.){1,3}[A-Za-z])\.$"
)
_ABBREVIATION_REACH = 16
_NO_SPACES = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0e7f\u0e80-\u0eff\u1000-\u109f]"
)
_WORD = re.compile(r"\w+")
_STOP_WORDS = """the and for with from that this these those into over under about after before
between through their there than then them they were was are been being has have had will
would could should may might can its his her our your who whom which what when where while
why how not but also more most less least such some many much other any each every both few
all own same very just only new one two three per via amid among said says say"""
_STARTS = """a an in on at by as if it he she we you i is be to of or no so up out yet analysts
officials experts critics researchers scientists"""
_STOP = frozenset(_STOP_WORDS.split())
COMMON_WORDS = _STOP | frozenset(_STARTS.split())  # words that start sentences, naming no one
_CAPITALISED = re.compile(r"[A-Z\u00c0-\u00de][\w'\u2019.&-]*")


def fold(text: str) -> str:
    """`text` folded for matching, with exactly one character per character of `text`."""
    folded = text.translate(_FOLD)
    lowered = folded.lower()
    if len(lowered) == len(folded):
        return lowered
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in folded)


def sentences(text: str) -> list[tuple[int, int]]:
    """The (start, end) of each sentence of `text`, surrounding spaces left out."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _END.finditer(text):
        # The longest abbreviation is 7 characters: a short window finds it (`\b` still sees
        # the text before the window), where a search from 0 made this quadratic.
        window = max(0, match.start() - _ABBREVIATION_REACH)
        if match.group().startswith(".") and _ABBREVIATION.search(text, window, match.start() + 1):
            continue
        _add(spans, text, start, match.end())
        start = match.end()
    _add(spans, text, start, len(text))
    return spans


def _add(spans: list[tuple[int, int]], text: str, start: int, end: int) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if stripped:
        left = start + len(piece) - len(piece.lstrip())
        spans.append((left, left + len(stripped)))


def terms(text: str) -> set[str]:
    """Content terms for the support check: four-letter word stems, or character pairs in
    scripts written without spaces."""
    found: set[str] = set()
    for word in _WORD.findall(fold(text)):
        if _NO_SPACES.search(word):
            found.update(word[i : i + 2] for i in range(len(word) - 1))
        elif len(word) >= 3 and word not in _STOP:
            found.add(word[:4])
    return found


def coverage(quote: str, passage: str) -> float:
    """The share of the quote's words (character pairs, without spaces) found in `passage`."""
    wanted, found = _units(quote), _units(passage)
    return sum(1 for unit in wanted if unit in found) / len(wanted) if wanted else 0.0


def _units(text: str) -> list[str]:
    units: list[str] = []
    for word in _WORD.findall(fold(text)):
        if _NO_SPACES.search(word):
            units += [word[i : i + 2] for i in range(len(word) - 1)] or [word]
        else:
            units.append(word)
    return units


class Aligner:
    """Citations of one article, turned into evidence spans."""

    def __init__(self, text: str) -> None:
        self.text = text

    @cached_property
    def folded(self) -> str:
        return fold(self.text)

    @cached_property
    def sentences(self) -> list[tuple[int, int]]:
        return sentences(self.text)

    def numbered(self) -> str:
        """The article as the model sees it when it cites by number: `[n] sentence` lines."""
        return "\n".join(
            f"[{number}] {self.text[start:end]}"
            for number, (start, end) in enumerate(self.sentences, start=1)
        )

    def cite(self, citation: object, cells: Sequence[str]) -> list[Evidence]:
        """Spans for a row's citation (a sentence number or a quote), checked against the
        row's own cells."""
        if isinstance(citation, str) and (marker := _MARKER.match(citation)):
            citation = int(marker[1])  # a bare number is a sentence number, never a quote
        if isinstance(citation, int) and not isinstance(citation, bool):
            spans = [self.sentence(citation)]
        elif isinstance(citation, str):
            spans = self.quote(citation)
        else:
            spans = [Evidence(text="", start=None, end=None, match="none")]
        return self._supported(spans, cells)

    def sentence(self, number: int) -> Evidence:
        if not 1 <= number <= len(self.sentences):
            return Evidence(text=str(number), start=None, end=None, match="none")
        start, end = self.sentences[number - 1]
        return Evidence(text=self.text[start:end], start=start, end=end, match="exact")

    def quote(self, quote: str) -> list[Evidence]:
        pieces = [part.strip() for part in _ELLIPSIS.split(quote)]
        pieces = [piece for piece in pieces if _EDGES.sub("", piece)]
        if not pieces:
            return [Evidence(text=quote, start=None, end=None, match="none")]
        return [self._piece(piece) for piece in pieces]

    def _piece(self, piece: str) -> Evidence:
        core = _EDGES.sub("", piece)  # without the quote marks and full stop around it
        for candidate in (piece, core):
            start = self.text.find(candidate)
            if start >= 0:
                return self._span(start, start + len(candidate), "exact")
        words = [w for w in re.split(_GAP, fold(core)) if w]
        found = re.search(_GAP.join(map(re.escape, words)), self.folded) if words else None
        if found:
            return self._span(found.start(), found.end(), "exact")
        if len(core) >= _FUZZY_MIN_CHARS:
            best = fuzz.partial_ratio_alignment(fold(core), self.folded, score_cutoff=FUZZY_SCORE)
            if best is not None:
                start, end = self._word_ends(best.dest_start, best.dest_end)
                if coverage(core, self.text[start:end]) >= FUZZY_COVERAGE:
                    return self._span(start, end, "fuzzy")
        return Evidence(text=piece, start=None, end=None, match="none")

    def _span(self, start: int, end: int, match: str) -> Evidence:
        return Evidence.model_validate(
            {"text": self.text[start:end], "start": start, "end": end, "match": match}
        )

    def _word_ends(self, start: int, end: int) -> tuple[int, int]:
        """Widen a fuzzy window to whole words, and trim the spaces at its edges."""
        text = self.text
        if not _NO_SPACES.search(text[start:end]):
            while start > 0 and text[start - 1].isalnum() and text[start].isalnum():
                start -= 1
            while end < len(text) and text[end - 1].isalnum() and text[end].isalnum():
                end += 1
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        return start, end

    @staticmethod
    def _supported(spans: list[Evidence], cells: Sequence[str]) -> list[Evidence]:
        wanted = terms(" ".join(cells))
        found = [span for span in spans if span.match != "none"]
        if not found or not wanted or any(terms(span.text) & wanted for span in found):
            return spans
        return [span.model_copy(update={"match": "none"}) for span in spans]


def ground_card(card: SignalCard, text: str) -> tuple[Grounding, list[str]]:
    """The card's grounding figures against `text`, and a warning per unsupported item."""
    known = _Vocabulary(text)
    warnings: list[str] = []
    for number, row in enumerate(card.signals, start=1):
        if row.evidence and not row.grounded:
            cited = "; ".join(span.text[:80] for span in row.evidence if span.text) or "nothing"
            warnings.append(
                f"signal {number} ({row.signal[:60]!r}) is not supported by the article "
                f"(it cited: {cited!r})"
            )
    warnings += [
        f"keyword {keyword!r} does not occur in the article"
        for keyword in card.keywords
        if not known.has(keyword)
    ]
    names = card_names(card)
    missing = [name for name in names if not known.has(name)]
    warnings += [
        f"the name {name!r} does not occur in the article"
        for name in dict.fromkeys(missing)
        if name not in card.keywords
    ]
    grounded = sum(row.grounded for row in card.signals if row.evidence)
    return (
        Grounding(
            rows=sum(1 for row in card.signals if row.evidence),
            grounded_rows=grounded,
            names=len(names),
            unsupported_names=tuple(missing),
        ),
        warnings,
    )


def card_names(card: SignalCard) -> list[str]:
    """Named entities in the card: runs of capitalised words in the summary and the signal
    cells (a sentence's first word only when it is no common word), capitalised keywords,
    and title words that the rest of the card also capitalises. In scripts without letter
    case every keyword counts, since keywords are names and key terms."""
    body = [card.summary, *(cell for row in card.signals for cell in row.cells())]
    names: list[str] = []
    for text in body:
        names += _runs(text)
    for keyword in card.keywords:
        if _CAPITALISED.search(keyword) or not _cased(keyword):
            names.append(keyword)
    elsewhere = {word for name in names for word in name.split()}
    names += [word for word in _runs(card.title, title=True) if word in elsewhere]
    return names


def _cased(text: str) -> bool:
    return any(c.isupper() or c.islower() for c in text)


def _runs(text: str, title: bool = False) -> list[str]:
    """Runs of capitalised words; in a title, each capitalised word on its own."""
    found: list[str] = []
    for sentence in re.split(r"(?<=[.!?;:])\s+", text):
        words = sentence.split()
        run: list[str] = []
        for position, raw in enumerate(words):
            word = raw.strip(".,;:!?()[]\"'\u201c\u201d\u2018\u2019")
            is_name = bool(word) and _CAPITALISED.fullmatch(word) is not None
            if is_name and position == 0 and not title and not _first_word_name(word, words):
                is_name = False
            if is_name:
                run.append(word)
            if not is_name or raw != word or position == len(words) - 1:
                if run:
                    found += run if title else [" ".join(run)]
                run = []
    return found


def _first_word_name(word: str, words: list[str]) -> bool:
    """A sentence's capitalised first word names someone when a capitalised word follows it
    (East Africa) or its capitals are not just the first letter (FedEx, NASA)."""
    if word.lower() in COMMON_WORDS:
        return False
    following = words[1] if len(words) > 1 else ""
    return any(c.isupper() for c in word[1:]) or bool(_CAPITALISED.match(following))


class _Vocabulary:
    """Whether a name or keyword occurs in the article: as a whole (folded), or word by
    word, where a word may differ in its ending (Kenya, Kenyan)."""

    def __init__(self, text: str) -> None:
        self.folded = " ".join(fold(text).split())

    # Most items occur whole; the article's words are gathered only for one that does not.
    @cached_property
    def words(self) -> set[str]:
        return set(_WORD.findall(self.folded))

    @cached_property
    def stems(self) -> set[str]:
        return {word[:5] for word in self.words if len(word) >= 5}

    def has(self, item: str) -> bool:
        folded = " ".join(fold(item).split())
        if not folded or folded in self.folded:
            return True
        if _NO_SPACES.search(folded):
            return False
        words = [w for w in _WORD.findall(folded) if w not in _STOP]
        return bool(words) and all(self._word(word) for word in words)

    def _word(self, word: str) -> bool:
        return word in self.words or (len(word) >= 5 and word[:5] in self.stems)
