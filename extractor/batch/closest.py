"""Closest related articles: a pass over a finished results.jsonl that fills each card's
`closest` list with the most similar other cards of the run (and of an earlier run's results).

Similarity is the cosine of sentence embeddings of `title + ". " + summary`. The pass keeps
only what it needs in memory (one float32 vector, a title, a reference and a cluster number per
card), computes similarities a block of rows at a time (never an N x N matrix), then streams
the file again to rewrite it atomically. Failed, torn and unparseable lines are kept byte for
byte; a card line gets its new `closest` list and is written back in the JSON style it was
written in (json.dumps with default or compact separators, ASCII-escaped or not), so nothing
else in it changes. The file must not grow during the pass: `ResultsChangedError` if it did.

Default floor 0.345, measured with all-MiniLM-L6-v2 on the 16 gold cards in seeds/: the related
pairs score 0.442 (writers' AI rules / record labels v. AI music) and 0.351 (Big Tech nuclear
power for AI / batteries on the evening peak); the 118 unrelated pairs average 0.18 (95th
percentile 0.30), the highest being 0.395 (1.5C warming year / cocoa harvests hit by El Nino heat,
which share a cause) and then 0.341 (nuclear power for AI / SpaceX booster catch). 0.345 sits
between that and the weakest related pair. For comparison, a seed card's text scores a median
0.43 against the titles its gold `Closest` section lists. The right floor depends on the
embedder: pass one measured for any other backend.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from extractor.backends.embeddings import Embedder
from extractor.core.errors import ExtractorError
from extractor.core.record import reference
from extractor.store import jsonl
from extractor.store.files import atomic_write

DEFAULT_K = 5
DEFAULT_FLOOR = 0.345
_EMBED_BATCH = 256
# Similarities are computed _BLOCK_ROWS rows at a time, and at most this many cells (16 MB of
# float32) at a time: 512 rows for runs up to 8,000 cards, fewer beyond.
_BLOCK_CELLS = 4_000_000
_BLOCK_ROWS = 512

_Vectors = np.ndarray[Any, np.dtype[np.float32]]
_Ints = np.ndarray[Any, np.dtype[np.int64]]
_GATHER_SECONDS = 0.2  # how long the background embedder waits to fill a batch


class ResultsChangedError(ExtractorError, RuntimeError):
    """The results file changed while the pass ran (a batch still appending to it?)."""


@dataclass(frozen=True)
class ClosestSummary:
    """What a `link_closest` pass did."""

    cards: int  # card lines in the results file, each rewritten
    linked: int  # cards that got at least one closest article
    links: int  # closest entries written in all
    library: int  # cards read from the library file as extra candidates
    k: int
    floor: float
    backend: str


@dataclass
class _Index:
    """Everything kept per card: run cards first, then library cards."""

    titles: list[str]
    references: list[str]
    lines: list[int]  # line number of each run card in the results file
    vectors: _Vectors
    clusters: _Ints
    run: int  # how many of the cards are the run's


class _Clusters:
    """Union-find over identity keys: a card, the cards with its reference and the cards marked
    `duplicate_of` one another (directly or through a chain) end up in one cluster."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        parent = self._parent.setdefault(key, key)
        root = key
        while parent != root:
            root, parent = parent, self._parent[parent]
        while key != root:  # path compression
            key, self._parent[key] = self._parent[key], root
        return root

    def union(self, a: str, b: str) -> None:
        first, second = self.find(a), self.find(b)
        if first != second:
            self._parent[max(first, second)] = min(first, second)


def link_closest(
    results: Path,
    embedder: Embedder,
    *,
    k: int = DEFAULT_K,
    floor: float = DEFAULT_FLOOR,
    library: Path | None = None,
    known: Mapping[bytes, _Vectors] | None = None,
) -> ClosestSummary:
    """Set `card.closest` on every card line of `results` and rewrite it atomically.

    Each card lists up to `k` other cards, most similar first, whose cosine is at least
    `floor`: cards of the same run and, with `library`, cards of that earlier results.jsonl
    (read, never changed). Never the card itself, a card with the same reference, a card
    marked `duplicate_of` it or that it duplicates, nor two cards of one such cluster.
    `known`: unit vectors already computed, by `text_digest` of the card text (see
    `BackgroundEmbeddings`); only the other cards are embedded here.
    """
    if k < 0:
        raise ValueError(f"k must not be negative, got {k}")
    if not -1.0 <= floor <= 1.0:
        raise ValueError(f"floor is a cosine, between -1 and 1; got {floor}")
    results = Path(os.path.realpath(results))  # replace a symlink's target, not the link
    before = os.stat(results)
    index = _read(results, library, embedder, known)
    picks = pick_closest(index.vectors, index.clusters, index.run, k, floor)
    linked = int(np.count_nonzero(picks[:, 0] >= 0)) if k else 0
    links = int(np.count_nonzero(picks >= 0))
    _rewrite(results, before, index, picks)
    return ClosestSummary(
        cards=index.run,
        linked=linked,
        links=links,
        library=len(index.titles) - index.run,
        k=k,
        floor=floor,
        backend=embedder.name,
    )


def card_text(title: str, summary: str) -> str:
    """What a card is embedded as for Closest links."""
    return f"{title}. {summary}"


def text_digest(text: str) -> bytes:
    """The key of a card text's vector: 16 bytes, not the text, so keeping them is cheap."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class BackgroundEmbeddings:
    """Cards embedded on a worker thread (by the embedder `embedder()` returns) while the run
    waits on the network, so that the Closest pass after the run has little left to do but
    compare them. The embedder runs in native code (onnxruntime, tokenizers) that releases
    the GIL, so the run's event loop keeps going meanwhile. A batch the worker fails to
    embed is simply left to the pass, which embeds it again and reports the error there."""

    def __init__(self, embedder: Callable[[], Embedder]) -> None:
        self._load = embedder  # called on the worker thread: loading a model takes a while
        self._embedder: Embedder | None = None
        self._texts: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self.vectors: dict[bytes, _Vectors] = {}
        self._thread = threading.Thread(target=self._work, name="closest-embed", daemon=True)
        self._thread.start()

    def add(self, title: str, summary: str) -> None:
        self._texts.put(card_text(title, summary))

    def finish(self) -> dict[bytes, _Vectors]:
        """Wait for what was added to be embedded; the vectors by `text_digest`."""
        self._texts.put(None)
        self._thread.join()
        return self.vectors

    def _work(self) -> None:
        open_ = True
        while open_:
            first = self._texts.get()
            if first is None:
                return
            batch, until = [first], time.monotonic() + _GATHER_SECONDS
            while len(batch) < _EMBED_BATCH:
                try:
                    text = self._texts.get(timeout=max(0.0, until - time.monotonic()))
                except queue.Empty:
                    break
                if text is None:
                    open_ = False
                    break
                batch.append(text)
            self._embed(batch)

    def _embed(self, batch: list[str]) -> None:
        fresh = {text_digest(text): text for text in batch}
        fresh = {key: text for key, text in fresh.items() if key not in self.vectors}
        if not fresh:
            return
        try:
            self._embedder = self._embedder or self._load()
            rows = _unit(self._embedder.embed(list(fresh.values())))
        except Exception:  # left to the pass, which raises it where the run can report it
            return
        if rows.shape[0] == len(fresh):
            self.vectors.update(zip(fresh, rows, strict=True))


def _card_text(record: dict[str, Any]) -> tuple[str, str] | None:
    card = record.get("card")
    if not isinstance(card, dict):
        return None
    title, summary = card.get("title"), card.get("summary")
    if not isinstance(title, str) or not isinstance(summary, str):
        return None
    return title, summary


def _reference_of(record: dict[str, Any], title: str, summary: str) -> str:
    ref = record.get("reference")
    if isinstance(ref, str) and ref:
        return ref
    article, card = record.get("article"), record.get("card")
    url = article.get("url") if isinstance(article, dict) else None
    if not isinstance(url, str) and isinstance(card, dict):
        url = card.get("link")
    return reference(url if isinstance(url, str) else None, f"{title}\n{summary}")


def _read(
    results: Path,
    library: Path | None,
    embedder: Embedder,
    known: Mapping[bytes, _Vectors] | None = None,
) -> _Index:
    titles: list[str] = []
    references: list[str] = []
    keys: list[str] = []  # each card's identity key, for the duplicate clusters
    lines: list[int] = []
    vectors: list[_Vectors] = []
    pending: list[str] = []
    clusters = _Clusters()
    ids: dict[str, set[str]] = {"run": set(), "lib": set()}
    duplicates: list[tuple[str, str, str]] = []  # (identity key, duplicate_of, scope)
    run = 0

    def embed(texts: list[str]) -> _Vectors:
        rows = _unit(embedder.embed(texts))
        if rows.shape[0] != len(texts):
            count = f"{rows.shape[0]} vectors for {len(texts)} texts"
            raise ValueError(f"embedder {embedder.name} returned {count}")
        return rows

    def flush() -> None:
        if not pending:
            return
        if known is None:
            vectors.append(embed(pending))
        else:
            keys = [text_digest(text) for text in pending]
            missing = {key: text for key, text in zip(keys, pending, strict=True)}
            missing = {key: text for key, text in missing.items() if key not in known}
            fresh = {}
            if missing:
                fresh = dict(zip(missing, embed(list(missing.values())), strict=True))
            vectors.append(np.stack([known[key] if key in known else fresh[key] for key in keys]))
        pending.clear()

    sources = [("run", results)] + ([("lib", library)] if library is not None else [])
    for scope, path in sources:
        for line in jsonl.lines(path):
            number, record = line.number, line.value
            if record is None:
                continue
            own = _identity(record, scope, number, clusters, ids[scope])
            target = record.get("duplicate_of")
            if isinstance(target, str) and target:
                duplicates.append((own, target, scope))
            text = _card_text(record)
            if text is None:
                continue
            title, summary = text
            titles.append(title)
            references.append(_reference_of(record, title, summary))
            keys.append(own)
            if scope == "run":
                lines.append(number)
            pending.append(card_text(title, summary))
            if len(pending) >= _EMBED_BATCH:
                flush()
        flush()
        if scope == "run":
            run = len(titles)
    for own, target, scope in duplicates:
        clusters.union(own, f"ref:{target}")
        # A run's line may duplicate an article of the library, never the reverse; an id
        # found in the line's own file wins.
        for where in ("run", "lib") if scope == "run" else ("lib",):
            if target in ids[where]:
                clusters.union(own, f"{where}:{target}")
                break
    for own, ref in zip(keys, references, strict=True):
        clusters.union(own, f"ref:{ref}")
    roots: dict[str, int] = {}
    numbered: _Ints = np.array(
        [roots.setdefault(clusters.find(key), len(roots)) for key in keys], dtype=np.int64
    )
    dim = vectors[0].shape[1] if vectors else 0
    matrix = np.concatenate(vectors) if vectors else np.zeros((0, dim), dtype=np.float32)
    vectors.clear()
    return _Index(titles, references, lines, matrix, numbered, run)


def _identity(
    record: dict[str, Any], scope: str, number: int, clusters: _Clusters, ids: set[str]
) -> str:
    """A key for this line that joins its id (scoped to its file) and its reference."""
    ident, ref = record.get("id"), record.get("reference")
    keys = []
    if isinstance(ident, str) and ident:
        ids.add(ident)
        keys.append(f"{scope}:{ident}")
    if isinstance(ref, str) and ref:
        keys.append(f"ref:{ref}")
    if not keys:
        keys.append(f"{scope}#{number}")
    for key in keys[1:]:
        clusters.union(keys[0], key)
    return keys[0]


def _unit(vectors: Any) -> _Vectors:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"the embedder returned an array of shape {array.shape}, not rows")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    unit: _Vectors = (array / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return unit


def pick_closest(vectors: _Vectors, clusters: _Ints, run: int, k: int, floor: float) -> _Ints:
    """Row i: the positions of card i's closest cards, best first, padded with -1, for the
    first `run` cards; `vectors` are unit rows, and cards of one cluster never list each
    other nor appear twice in a list."""
    total = len(vectors)
    picks: _Ints = np.full((run, k), -1, dtype=np.int64)
    if k == 0 or total < 2:
        return picks
    rows = max(1, min(_BLOCK_ROWS, _BLOCK_CELLS // total))
    # A few spare candidates, so that skipping further members of an already listed cluster
    # rarely needs the full row; when it does, the whole row is sorted.
    width = min(total, 4 * k + 4)
    buffer = np.empty((min(rows, run), total), dtype=np.float32)  # one block, reused
    for start in range(0, run, rows):
        stop = min(start + rows, run)
        block = np.matmul(vectors[start:stop], vectors.T, out=buffer[: stop - start])
        for offset, sims in enumerate(block):
            # Rounded so that equal cards tie exactly (a product's last bits can depend on where
            # a column sits); ties go to the card that comes first.
            np.round(sims, 6, out=sims)
            sims[clusters == clusters[start + offset]] = -np.inf  # itself and its duplicates
            top: _Ints = (
                np.argpartition(sims, total - width)[total - width :]
                if width < total
                else np.arange(total)
            )
            chosen = _choose(top, sims[top], clusters, k, floor)
            if len(chosen) < k and width < total and sims[top].min() >= floor:
                chosen = _choose(np.arange(total), sims, clusters, k, floor)
            picks[start + offset, : len(chosen)] = chosen
    return picks


def _choose(
    candidates: _Ints, values: _Vectors, clusters: _Ints, k: int, floor: float
) -> list[int]:
    """Best first (ties to the earlier card), at least `floor`, one card per cluster."""
    order = np.lexsort((candidates, -values))
    chosen: list[int] = []
    seen: set[int] = set()
    for position, value in zip(candidates[order].tolist(), values[order].tolist(), strict=True):
        if value < floor:
            break
        cluster = int(clusters[position])
        if cluster in seen:
            continue
        seen.add(cluster)
        chosen.append(position)
        if len(chosen) == k:
            break
    return chosen


_STYLES: tuple[dict[str, Any], ...] = (
    {"ensure_ascii": False},
    {"ensure_ascii": True},
    {"ensure_ascii": False, "separators": (",", ":")},
    {"ensure_ascii": True, "separators": (",", ":")},
)


def _rewrite(results: Path, before: os.stat_result, index: _Index, picks: _Ints) -> None:
    card_lines = iter(zip(index.lines, picks.tolist(), strict=True))
    pending = next(card_lines, None)
    with atomic_write(results) as out:
        for line in jsonl.lines(results):
            if pending is None or pending[0] != line.number:
                out.write(line.raw)
                continue
            record = line.value
            if record is None or _card_text(record) is None:
                raise ResultsChangedError(f"{results} changed during the closest pass")
            body = line.raw.rstrip(b"\r\n")
            original = body.decode("utf-8", "replace")  # only compared, never written
            closest = [
                {"title": index.titles[j], "reference": index.references[j]}
                for j in pending[1]
                if j >= 0
            ]
            restyled = _restyled(record, original, closest)
            out.write(restyled.encode("utf-8") + line.raw[len(body) :])
            pending = next(card_lines, None)
        after = os.stat(results)
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            raise ResultsChangedError(f"{results} changed during the closest pass; rerun it")


def _restyled(record: dict[str, Any], original: str, closest: list[dict[str, str]]) -> str:
    style: dict[str, Any] = {"ensure_ascii": False}
    for candidate in _STYLES:
        if json.dumps(record, **candidate) == original:
            style = candidate
            break
    record["card"]["closest"] = closest
    return json.dumps(record, **style)
