"""Near-duplicate articles, caught before extraction so one story is not extracted twice.

The same wire story often reaches a batch from several outlets: the body is the same, but the
headline, a word here and there and the boilerplate (bylines, "Sign up for our newsletter")
differ. `NearDuplicates.check` compares each article with the ones seen before it by the
Jaccard similarity of their 5-word shingles (case-folded, punctuation stripped), estimated with
MinHash and found with MinHash LSH, so a check costs about the same however many articles came
before it, and each remembered article costs a 128-value signature (512 bytes) plus its LSH
band keys, never its text.

Threshold: 0.7 (shingle Jaccard). Measured on the example articles (about 500 words) with a new
headline, a boilerplate line and N words replaced: N=3 gives 0.90, N=10 gives 0.79; on a
236-word article N=3 gives 0.80, N=6 gives 0.70 and N=10 gives 0.60 (missed); the 270-word
story in tests/test_duplicates.py with a new headline, 4 words changed and a newsletter line:
0.76 (estimated 0.72 to 0.82 over ten seeds). Different stories, on the same topic or not,
score at most 0.003. The gap would allow a lower threshold, but a missed duplicate only costs
a second extraction while a false match loses a card, and follow-up stories that reuse half of
an earlier story's text carry new facts: 0.7 keeps those apart. The MinHash estimate has a
standard error of about 0.04 near the threshold (128 permutations), so copies at 0.70 to 0.78
are caught most of the time rather than always; short, heavily edited copies need a lower one.

LSH is queried at a looser threshold (0.2 below the decision threshold, which finds pairs at the
threshold 99% of the time), then every candidate is confirmed by its estimated Jaccard: LSH alone
would miss about half of the pairs that sit exactly at its threshold.

Texts shorter than one shingle have no shingles; they count as duplicates only when their
normalised text is identical. Exact copies (up to case, punctuation and whitespace) are caught
by a digest before any MinHash work. Texts without any words are never matched nor remembered:
an empty article is an input error, not a copy of another one.

Deterministic: fixed permutation seed, hashes independent of PYTHONHASHSEED, and ties between
several matches go to the most similar, then to the earliest remembered.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any

import numpy as np
from datasketch import MinHash, MinHashLSH  # type: ignore[import-untyped, unused-ignore]

DEFAULT_THRESHOLD = 0.7
DEFAULT_SHINGLE = 5
DEFAULT_NUM_PERM = 128
_SEED = 1
_CANDIDATE_SLACK = 0.2

_APOSTROPHES = re.compile(r"['\u2019\u02bc]")
_NOT_WORD = re.compile(r"[^\w\s]+")


def words(text: str) -> list[str]:
    """The comparison words: NFKC, case-folded, apostrophes dropped ("don't" -> "dont"), any
    other punctuation a word break."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _NOT_WORD.sub(" ", _APOSTROPHES.sub("", folded)).split()


def shingles(text: str, size: int = DEFAULT_SHINGLE) -> set[str]:
    """The set of `size`-word runs of `text`; empty when it has fewer than `size` words."""
    tokens = words(text)
    return {" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


def jaccard(a: str, b: str, size: int = DEFAULT_SHINGLE) -> float:
    """The exact shingle Jaccard similarity that `NearDuplicates` estimates."""
    first, second = shingles(a, size), shingles(b, size)
    union = first | second
    return len(first & second) / len(union) if union else 0.0


class NearDuplicates:
    """Remembers the articles checked so far and names the earlier one a new article copies.

    `check(article_id, text)` returns the id of an earlier article whose text is a near
    duplicate (shingle Jaccard >= `threshold`), or None and then remembers this article. A
    duplicate is not remembered: later copies point at the first article, not at a copy.
    """

    def __init__(
        self,
        threshold: float = DEFAULT_THRESHOLD,
        *,
        shingle: int = DEFAULT_SHINGLE,
        num_perm: int = DEFAULT_NUM_PERM,
        seed: int = _SEED,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        if shingle < 1:
            raise ValueError(f"shingle must be at least 1 word, got {shingle}")
        if num_perm < 16:
            raise ValueError(f"num_perm must be at least 16, got {num_perm}")
        self.threshold = threshold
        self.shingle = shingle
        self.num_perm = num_perm
        self._seed = seed
        self._lsh = MinHashLSH(
            threshold=max(0.1, threshold - _CANDIDATE_SLACK), num_perm=num_perm
        )
        self._exact: dict[bytes, str] = {}
        self._signatures: dict[str, np.ndarray[Any, Any]] = {}
        self._order: dict[str, int] = {}

    def __len__(self) -> int:
        """How many articles are remembered (duplicates and wordless texts are not)."""
        return len(self._order)

    def check(self, article_id: str, text: str) -> str | None:
        tokens = words(text)
        if not tokens:
            return None
        digest = hashlib.blake2b(" ".join(tokens).encode("utf-8"), digest_size=16).digest()
        earlier = self._exact.get(digest)
        if earlier is not None and earlier != article_id:
            return earlier
        signature = self._signature(tokens)
        if earlier is None and signature is not None:
            match = self._near(article_id, signature)
            if match is not None:
                return match
        if article_id not in self._order:  # an id checked again keeps its first text
            self._remember(article_id, digest, signature)
        return None

    def _signature(self, tokens: list[str]) -> MinHash | None:
        size = self.shingle
        if len(tokens) < size:
            return None
        grams = {" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}
        minhash = MinHash(num_perm=self.num_perm, seed=self._seed)
        # Sorted, so the order shingles are hashed in never depends on set iteration order.
        minhash.update_batch([gram.encode("utf-8") for gram in sorted(grams)])
        return minhash

    def _near(self, article_id: str, signature: MinHash) -> str | None:
        values: np.ndarray[Any, Any] = signature.hashvalues
        best: tuple[float, int, str] | None = None
        for key in self._lsh.query(signature):
            other = str(key)
            if other == article_id:
                continue
            score = float(np.count_nonzero(self._signatures[other] == values)) / values.size
            if score < self.threshold:
                continue
            rank = (-score, self._order[other], other)
            if best is None or rank < best:
                best = rank
        return best[2] if best is not None else None

    def _remember(self, article_id: str, digest: bytes, signature: MinHash | None) -> None:
        self._exact[digest] = article_id
        self._order[article_id] = len(self._order)
        if signature is not None:
            self._signatures[article_id] = np.array(signature.hashvalues, copy=True)
            self._lsh.insert(article_id, signature, check_duplication=False)
