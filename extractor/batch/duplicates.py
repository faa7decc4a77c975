"""Near-duplicate articles, caught before extraction so one story is not extracted twice.

The same wire story often reaches a batch from several outlets: the body is the same, but the
headline, a word here and there and the boilerplate (bylines, "Sign up for our newsletter")
differ. `NearDuplicates.check` compares each article with the ones seen before it by the
Jaccard similarity of their 5-word shingles (case-folded, punctuation stripped). Candidates
are found with MinHash LSH, so a check costs about the same however many articles came before
it. Shingle hashes and band keys live in a temporary SQLite file, not in memory, so a run of
100,000 articles needs no more memory than a run of 1,000.

Threshold: 0.7 (shingle Jaccard). Measured on the example articles (about 500 words) with a new
headline, a boilerplate line and N words replaced: N=3 gives 0.90, N=10 gives 0.79; on a
236-word article N=3 gives 0.80, N=6 gives 0.70 and N=10 gives 0.60 (missed); the 270-word
story in tests/test_duplicates.py with a new headline, 4 words changed and a newsletter line:
0.76. Different stories, on the same topic or not,
score at most 0.003. The gap would allow a lower threshold, but a missed duplicate only costs
a second extraction while a false match loses a card, and follow-up stories that reuse half of
an earlier story's text carry new facts: 0.7 keeps those apart. Short, heavily edited copies
would need a lower one.

LSH uses 32 bands of 4 rows of a 128-hash MinHash signature: a pair at Jaccard 0.7 shares a
band with probability 0.9998, a pair at 0.3 with 0.23. Every candidate is then confirmed by its
exact shingle Jaccard (the shingle hashes are kept on disk), so the decision at the threshold
carries no estimation error and the loose bands cost a few lookups, never a false match.

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
import sqlite3
import tempfile
import unicodedata
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from extractor.core.errors import StorageError

DEFAULT_THRESHOLD = 0.7
DEFAULT_SHINGLE = 5
DEFAULT_NUM_PERM = 128
_SEED = 1
_ROWS_PER_BAND = 4
_BASE = 1_000_003  # the polynomial base that folds a window of word hashes into one

_APOSTROPHES = re.compile(r"['\u2019\u02bc]")
_NOT_WORD = re.compile(r"[^\w\s]+")
# `words` for ASCII text as one byte table: letters lowered, digits and "_" kept, anything
# else a space (the apostrophe is deleted apart).
_ASCII_WORDS = bytes(
    c + 32 if 65 <= c <= 90 else c if chr(c).isalnum() or c == 95 else 32 for c in range(128)
) + bytes(range(128, 256))

Shingles = np.ndarray[Any, np.dtype[np.uint64]]


def words(text: str) -> list[str]:
    """The comparison words: NFKC, case-folded, apostrophes dropped ("don't" -> "dont"), any
    other punctuation a word break."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _NOT_WORD.sub(" ", _APOSTROPHES.sub("", folded)).split()


def _tokens(text: str) -> list[bytes]:
    """`words(text)` in UTF-8. Every article of a run is checked, and most are ASCII, which
    a byte table splits three times faster than the regular expressions."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_WORDS, b"'").split()
    return [word.encode("utf-8") for word in words(text)]


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
        if num_perm < 16 or num_perm % _ROWS_PER_BAND:
            raise ValueError(f"num_perm must be a multiple of 4, at least 16, got {num_perm}")
        self.threshold = threshold
        self.shingle = shingle
        self.num_perm = num_perm
        # The permutations' constants, from a fixed seed; `a` is odd, as multiply-shift
        # hashing needs.
        constants = _splitmix64(seed, 2 * num_perm).reshape(2, num_perm, 1)
        self._a = constants[0] | np.uint64(1)
        self._b = constants[1]
        self._folder = tempfile.TemporaryDirectory(prefix="extractor-near-")
        self._path = Path(self._folder.name) / "index.sqlite"
        with self._storage():
            self._db = sqlite3.connect(self._path)
            self._db.executescript(
                """
                PRAGMA journal_mode = OFF;
                PRAGMA synchronous = OFF;
                CREATE TABLE seen (number INTEGER PRIMARY KEY, id TEXT UNIQUE, shingles BLOB);
                CREATE TABLE exact (digest BLOB PRIMARY KEY, id TEXT) WITHOUT ROWID;
                CREATE TABLE bands (key INTEGER, number INTEGER, PRIMARY KEY (key, number))
                    WITHOUT ROWID;
                """
            )

    @contextmanager
    def _storage(self) -> Iterator[None]:
        """The index is a fresh temporary file: any failure of it is the disk's."""
        try:
            yield
        except sqlite3.Error as err:
            where = f"the near-duplicate index {self._path}"
            raise StorageError(f"cannot write {where}: {err}") from None

    def __len__(self) -> int:
        """How many articles are remembered (duplicates and wordless texts are not)."""
        return int(self._db.execute("SELECT count(*) FROM seen").fetchone()[0])

    def check(self, article_id: str, text: str) -> str | None:
        with self._storage():
            return self._check(article_id, text)

    def _check(self, article_id: str, text: str) -> str | None:
        tokens = _tokens(text)
        if not tokens:
            return None
        digest = hashlib.blake2b(b" ".join(tokens), digest_size=16).digest()
        row = self._db.execute("SELECT id FROM exact WHERE digest = ?", (digest,)).fetchone()
        earlier = None if row is None else str(row[0])
        if earlier is not None and earlier != article_id:
            return earlier
        grams = self._shingles(tokens)
        keys = self._band_keys(self._signature(grams)) if grams is not None else []
        if earlier is None and grams is not None:
            match = self._near(article_id, grams, keys)
            if match is not None:
                return match
        self._remember(article_id, digest, grams, keys)
        return None

    def _shingles(self, tokens: list[bytes]) -> Shingles | None:
        """The sorted, distinct hashes of the text's shingles, built from one crc32 per word
        by a polynomial over each window, all in numpy."""
        size = self.shingle
        if len(tokens) < size:
            return None
        words_hashed = np.fromiter(
            map(zlib.crc32, tokens), np.uint64, count=len(tokens)
        )  # without a Python frame per word
        count = len(tokens) - size + 1
        grams = np.zeros(count, dtype=np.uint64)
        for offset in range(size):
            grams = grams * np.uint64(_BASE) + words_hashed[offset : offset + count]
        hashed: Shingles = (grams >> np.uint64(32)) ^ grams
        hashed.sort()
        distinct = np.empty(count, dtype=bool)  # np.unique, without the numpy.ma it imports
        distinct[0] = True
        np.not_equal(hashed[1:], hashed[:-1], out=distinct[1:])
        unique: Shingles = hashed[distinct]
        return unique

    def _signature(self, grams: Shingles) -> Shingles:
        # Multiply-shift hashing: (a*x + b) mod 2**64, top 32 bits; no division needed. The
        # shift is monotonic, so it is taken after the minimum, on 128 values, not all of them.
        values = np.multiply(self._a, grams)
        values += self._b
        signature: Shingles = values.min(axis=1) >> np.uint64(32)
        return signature

    def _band_keys(self, signature: Shingles) -> list[int]:
        """One 64-bit key per band: its 4 values and its number folded by the same
        polynomial as the shingles, as signed integers for SQLite."""
        bands = signature.reshape(-1, _ROWS_PER_BAND)
        keys = np.arange(1, len(bands) + 1, dtype=np.uint64)
        for column in range(_ROWS_PER_BAND):
            keys = keys * np.uint64(_BASE) + bands[:, column]
        keys ^= keys >> np.uint64(29)
        keyed: list[int] = keys.view(np.int64).tolist()
        return keyed

    def _near(self, article_id: str, grams: Shingles, keys: list[int]) -> str | None:
        """The candidates LSH proposes, confirmed by their exact shingle Jaccard."""
        marks = ",".join("?" * len(keys))
        rows = self._db.execute(
            f"SELECT number, id, shingles FROM seen WHERE number IN "
            f"(SELECT DISTINCT number FROM bands WHERE key IN ({marks}))",
            keys,
        ).fetchall()
        best: tuple[float, int, str] | None = None
        for number, other, blob in rows:
            if other == article_id or blob is None:
                continue
            stored = np.frombuffer(blob, dtype=np.uint64)
            shared = np.intersect1d(stored, grams, assume_unique=True).size
            score = shared / (stored.size + grams.size - shared)
            if score < self.threshold:
                continue
            rank = (-score, int(number), str(other))
            if best is None or rank < best:
                best = rank
        return best[2] if best is not None else None

    def _remember(
        self, article_id: str, digest: bytes, grams: Shingles | None, keys: list[int]
    ) -> None:
        blob = None if grams is None else grams.tobytes()
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO seen (id, shingles) VALUES (?, ?)", (article_id, blob)
        )
        if not cursor.rowcount:  # an id checked again keeps its first text
            return
        self._db.execute("INSERT OR IGNORE INTO exact VALUES (?, ?)", (digest, article_id))
        self._db.executemany(
            "INSERT OR IGNORE INTO bands VALUES (?, ?)", [(key, cursor.lastrowid) for key in keys]
        )

    def close(self) -> None:
        self._db.close()
        self._folder.cleanup()


def _splitmix64(seed: int, count: int) -> Shingles:
    """`count` well-mixed 64-bit values from `seed` (SplitMix64): numpy.random would cost a
    run's start about 40 ms to import, for a few hundred numbers."""
    with np.errstate(over="ignore"):
        state = np.arange(1, count + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        state += np.uint64(seed & (2**64 - 1))
        state = (state ^ (state >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        state = (state ^ (state >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        mixed: Shingles = state ^ (state >> np.uint64(31))
    return mixed
