"""The closest-articles pass over results.jsonl: gold seed cards with the real MiniLM, then a
deterministic bag-of-words embedder for duplicates and for a 5,000-line run."""

from __future__ import annotations

import hashlib
import json
import random
import re
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from extractor.backends.embeddings import MINILM, Vectors, minilm, minilm_available
from extractor.batch.closest import (
    DEFAULT_FLOOR,
    BackgroundEmbeddings,
    ClosestSummary,
    link_closest,
)
from extractor.core.card import ANY_COUNT, SignalCard
from extractor.core.record import reference

pytestmark = pytest.mark.native("minilm")

SEEDS = sorted((Path(__file__).resolve().parents[1] / "seeds").glob("*.txt"))
CARDS = {path.name[:3]: SignalCard.from_markdown(path.read_text("utf-8")) for path in SEEDS}
RELATED = {("001", "002"), ("006", "007")}

needs_minilm = pytest.mark.skipif(not minilm_available(), reason="the semantic extra is missing")


def record(number: str, card: SignalCard, **extra: Any) -> dict[str, Any]:
    """A results.jsonl line as the README's batch section describes it."""
    return {
        "id": f"articles/{number}.html",
        "key": hashlib.sha256(number.encode()).hexdigest(),
        "reference": reference(card.link, card.summary),
        "source": card.link,
        "card": card.model_dump(),
        "article": {"title": card.title, "url": card.link, "date": "2024-11-04"},
        "usage": {"prompt_tokens": 900, "completion_tokens": 300, "total_tokens": 1200,
                  "requests": 1, "transport_retries": 0, "reasks": 0},
        "model": "gold", "mode": "json", "strategy": "whole", "prompt_version": "test",
        "warnings": [], "seconds": 1.25, "attempts": 1, "cached": False, "duplicate_of": None,
        **extra,
    }  # fmt: skip


def line(data: dict[str, Any], **style: Any) -> bytes:
    style.setdefault("ensure_ascii", False)
    return (json.dumps(data, **style) + "\n").encode()


FAILED = line(
    {"id": "articles/broken.html", "key": "f" * 64, "source": "articles/broken.html",
     "card": None, "error": "no valid card after 3 attempts", "warnings": ["résumé"]}
)  # fmt: skip
TORN = line(record("999", CARDS["000"]))[:150]  # the writer died mid-line: no newline


def write_run(path: Path, numbers: Sequence[str], *, torn: bool = True) -> list[bytes]:
    lines = []
    for position, number in enumerate(numbers):
        data = record(number, CARDS[number])
        if position == 3:
            lines.append(FAILED)
        if position == 4:  # a field this pass does not know, written compactly and as ASCII
            data["extra"] = {"nested": [1, 2.5, None], "note": "naïve"}
            lines.append(line(data, separators=(",", ":"), ensure_ascii=True))
        else:
            lines.append(line(data))
    if torn:
        lines.append(TORN)
    path.write_bytes(b"".join(lines))
    return lines


def closest(path: Path) -> dict[str, list[str]]:
    """Seed number -> the references its card lists, from a rewritten results file."""
    out = {}
    for raw in path.read_bytes().splitlines():
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        if data.get("card"):
            number = data["id"].removeprefix("articles/").removesuffix(".html")
            out[number] = [item["reference"] for item in data["card"]["closest"]]
    return out


class Remembering:
    """The real MiniLM, each text embedded once per test session (about 1 s per 16 cards)."""

    name = MINILM

    def __init__(self) -> None:
        self._seen: dict[str, np.ndarray[Any, Any]] = {}

    def embed(self, texts: Sequence[str]) -> Vectors:
        missing = [value for value in dict.fromkeys(texts) if value not in self._seen]
        if missing:
            self._seen.update(zip(missing, minilm().embed(missing), strict=True))
        rows: Vectors = np.array([self._seen[value] for value in texts], dtype=np.float32)
        return rows


MINILM_ONCE = Remembering()

REFERENCES = {reference(card.link, card.summary): number for number, card in CARDS.items()}


def text(card: SignalCard) -> str:
    return f"{card.title}. {card.summary}"


# --- reference ---


def test_reference_of_a_url_matches_the_seed_closest_links() -> None:
    # 002 lists 001 as [Big Tech Turns to Nuclear Power for AI](709e7022...): md5 of 001's link.
    assert reference(CARDS["001"].link, "whatever") == "709e7022e655f8f008190d4ca5178828"
    assert reference(CARDS["007"].link, "") == "fef105264b7bd2ee1c41e672cc43f214"
    assert reference(f"  {CARDS['007'].link}\n", "") == "fef105264b7bd2ee1c41e672cc43f214"


def test_reference_without_a_url_is_the_md5_of_the_folded_text() -> None:
    ref = reference(None, "Solar  wins\n\nagain. ")
    assert ref == hashlib.md5(b"Solar wins again.").hexdigest()
    assert reference("", "Solar wins again.") == ref == reference("  ", " Solar wins  again.")
    assert re.fullmatch(r"[0-9a-f]{32}", ref)
    assert reference(None, "Solar wins again!") != ref


# --- the gold seed cards with MiniLM ---


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes], ClosestSummary]:
    if not minilm_available():
        pytest.skip("the semantic extra is missing")
    path = tmp_path_factory.mktemp("closest") / "results.jsonl"
    before = write_run(path, sorted(CARDS))
    return path, before, link_closest(path, MINILM_ONCE)


@pytest.fixture(scope="module")
def cosines() -> dict[tuple[str, str], float]:
    if not minilm_available():
        pytest.skip("the semantic extra is missing")
    numbers = sorted(CARDS)
    vectors = MINILM_ONCE.embed([text(CARDS[number]) for number in numbers])
    sims = vectors @ vectors.T
    return {(a, b): float(sims[i, j]) for i, a in enumerate(numbers) for j, b in enumerate(numbers)}


@needs_minilm
def test_related_seed_pairs_list_each_other(seed_run: tuple[Path, list[bytes], Any]) -> None:
    path, _, summary = seed_run
    found = closest(path)
    for a, b in RELATED:
        assert reference(CARDS[b].link, "") in found[a]
        assert reference(CARDS[a].link, "") in found[b]
    assert summary.cards == 16 and summary.backend == MINILM and summary.floor == DEFAULT_FLOOR
    assert summary.links == sum(len(refs) for refs in found.values())
    assert summary.linked == sum(1 for refs in found.values() if refs)


@needs_minilm
def test_links_are_the_most_similar_others_above_the_floor(
    seed_run: tuple[Path, list[bytes], Any], cosines: dict[tuple[str, str], float]
) -> None:
    path, _, summary = seed_run
    for number, refs in closest(path).items():
        listed = [REFERENCES[ref] for ref in refs]
        assert number not in listed  # never itself
        assert len(listed) == len(set(listed)) <= summary.k
        scores = [cosines[number, other] for other in listed]
        assert all(score >= DEFAULT_FLOOR for score in scores)
        assert scores == sorted(scores, reverse=True)  # most similar first
        expected = sorted(
            (other for other in CARDS if other != number
             and cosines[number, other] >= DEFAULT_FLOOR),
            key=lambda other: -cosines[number, other],
        )[: summary.k]  # fmt: skip
        assert listed == expected
    # Unrelated cards with nothing above the floor list nothing at all.
    assert closest(path)["013"] == [] and closest(path)["015"] == []


@needs_minilm
def test_other_lines_and_fields_are_preserved(seed_run: tuple[Path, list[bytes], Any]) -> None:
    path, before, _ = seed_run
    after = path.read_bytes().splitlines(keepends=True)
    assert len(after) == len(before)
    assert after[3] == FAILED and after[-1] == TORN
    for old, new in zip(before, after, strict=True):
        if old in (FAILED, TORN):
            continue
        old_data, new_data = json.loads(old), json.loads(new)
        assert list(new_data) == list(old_data)  # same fields, same order
        old_data["card"]["closest"] = new_data["card"]["closest"]
        assert new_data == old_data  # only `closest` changed
        compact = old.startswith(b'{"id":"')  # written compactly and ASCII-escaped: kept that way
        style: dict[str, Any] = {"separators": (",", ":"), "ensure_ascii": True} if compact else {}
        assert new == line(new_data, **style)
        card = SignalCard.model_validate(new_data["card"], context={"limits": ANY_COUNT})
        assert [item.model_dump() for item in card.closest] == new_data["card"]["closest"]
        for item in card.closest:
            assert item.title == CARDS[REFERENCES[item.reference]].title


@needs_minilm
def test_a_second_pass_changes_nothing(seed_run: tuple[Path, list[bytes], Any]) -> None:
    path, _, first = seed_run
    content = path.read_bytes()
    assert link_closest(path, MINILM_ONCE) == first
    assert path.read_bytes() == content


@needs_minilm
def test_k_is_respected(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    write_run(path, sorted(CARDS))
    summary = link_closest(path, MINILM_ONCE, k=1)
    found = closest(path)
    assert all(len(refs) <= 1 for refs in found.values())
    assert found["006"] == [reference(CARDS["007"].link, "")]
    assert summary.links == summary.linked > 0
    assert link_closest(path, MINILM_ONCE, k=0).links == 0
    assert all(refs == [] for refs in closest(path).values())


@needs_minilm
def test_library_mode_links_to_earlier_results(tmp_path: Path) -> None:
    library = tmp_path / "earlier.jsonl"
    library_lines = write_run(library, ["002", "007", "001", "013"], torn=False)
    results = tmp_path / "results.jsonl"
    write_run(results, ["000", "001", "003", "006"], torn=False)
    summary = link_closest(results, MINILM_ONCE, library=library)
    assert library.read_bytes() == b"".join(library_lines)  # read, never changed
    assert summary.library == 4 and summary.cards == 4
    found = closest(results)
    assert reference(CARDS["002"].link, "") in found["001"]
    assert reference(CARDS["007"].link, "") in found["006"]
    # The library's copy of 001 has 001's reference: it is the same article, never listed.
    assert all(REFERENCES[ref] != number for number, refs in found.items() for ref in refs)


# --- a deterministic embedder ---


class BagOfWords:
    """Hashed bag of words: deterministic, fast, and similar texts get similar vectors."""

    name = "bag-of-words"

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, value in enumerate(texts):
            for word in re.findall(r"\w+", value.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest()[:8], 16) % self.dim] += 1
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        unit: Vectors = out / np.maximum(norms, 1e-12)
        return unit


def synthetic(ident: str, title: str, summary: str, **extra: Any) -> dict[str, Any]:
    card: dict[str, Any] = {
        "title": title, "summary": summary, "keywords": [], "themes": [], "signals": [],
        "link": None, "source": None, "closest": [],
    }  # fmt: skip
    return {"id": ident, "reference": reference(None, summary), "card": card, **extra}


def test_duplicates_and_same_reference_are_never_listed(tmp_path: Path) -> None:
    story = "solar batteries grid evening peak storage prices households rooftops"
    path = tmp_path / "results.jsonl"
    rows = [
        synthetic("a", "Solar story", story),
        synthetic("b", "Solar story", story, duplicate_of="a"),  # a copy, cached card
        synthetic("c", "Solar news", story + " wind"),
        synthetic("d", "Solar news again", story + " wind"),  # same reference as c
        synthetic("e", "Chained copy", story, duplicate_of="b"),
    ]
    rows[1]["reference"], rows[4]["reference"] = "b" * 32, "e" * 32  # other URLs
    rows[3]["reference"] = rows[2]["reference"]
    path.write_bytes(b"".join(line(row) for row in rows))
    link_closest(path, BagOfWords(), floor=0.1)
    refs = {json.loads(raw)["id"]: json.loads(raw)["card"]["closest"] for raw in path.open("rb")}
    by_ref = {row["reference"]: row["id"] for row in rows[:3] + rows[4:]}
    listed = {ident: [by_ref[item["reference"]] for item in items] for ident, items in refs.items()}
    assert listed == {"a": ["c"], "b": ["c"], "c": ["a"], "d": ["a"], "e": ["c"]}
    assert refs["c"][0]["title"] == "Solar story"


class Counting(BagOfWords):
    """BagOfWords that counts the texts it is asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.texts = 0

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.texts += len(texts)
        return super().embed(texts)


def test_cards_embedded_during_the_run_give_the_same_links_and_are_not_embedded_again(
    tmp_path: Path,
) -> None:
    rng = random.Random(7)
    words = [
        "solar",
        "grid",
        "battery",
        "wind",
        "heat",
        "pump",
        "cocoa",
        "harvest",
        "nuclear",
        "power",
        "ai",
        "music",
    ]
    rows = [synthetic(f"r{i}", f"Story {i}", " ".join(rng.choices(words, k=12))) for i in range(40)]
    plain, early = tmp_path / "plain.jsonl", tmp_path / "early.jsonl"
    for path in (plain, early):
        path.write_bytes(b"".join(line(row) for row in rows))
    link_closest(plain, BagOfWords(), floor=0.1)
    embedder = Counting()
    background = BackgroundEmbeddings(lambda: embedder)
    for row in rows[:30]:  # the last ten were done by an earlier run: embedded by the pass
        background.add(row["card"]["title"], row["card"]["summary"])
    known = background.finish()
    assert embedder.texts == 30
    link_closest(early, embedder, floor=0.1, known=known)
    assert embedder.texts == 40
    assert early.read_bytes() == plain.read_bytes()


def test_files_without_cards_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    content = FAILED + b"\n" + b"[1, 2]\n" + b"\xff\xfe not json\n" + TORN
    path.write_bytes(content)
    summary = link_closest(path, BagOfWords())
    assert (summary.cards, summary.links, summary.backend) == (0, 0, "bag-of-words")
    assert path.read_bytes() == content
    assert [p.name for p in tmp_path.iterdir()] == ["results.jsonl"]  # no temp file left


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_bytes(b"")
    with pytest.raises(ValueError):
        link_closest(path, BagOfWords(), k=-1)
    with pytest.raises(ValueError):
        link_closest(path, BagOfWords(), floor=1.5)


def test_five_thousand_lines_in_bounded_memory(tmp_path: Path) -> None:
    count, topics = 5000, 50
    rng = random.Random(7)
    filler = [f"common{i}" for i in range(300)]
    path = tmp_path / "results.jsonl"
    with path.open("wb") as out:
        for i in range(count):
            topic = i % topics
            words = [f"topic{topic}word{j}" for j in range(12)] + rng.sample(filler, 8)
            if i % 97 == 0:
                out.write(FAILED)
            out.write(line(synthetic(f"a{i}", f"Story {i} on topic {topic}", " ".join(words))))
        out.write(TORN)
    tracemalloc.start()
    try:
        summary = link_closest(path, BagOfWords())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    full_matrix = count * count * 4  # what an N x N float32 similarity matrix would take
    assert peak < full_matrix / 5, f"peak {peak / 1e6:.1f} MB"
    assert summary.cards == count and summary.linked == count and summary.links == 5 * count
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) == count + count // 97 + 2 and lines[-1] == TORN
    for raw in lines[:300]:
        if raw == FAILED:
            continue
        data = json.loads(raw)
        topic = data["card"]["title"].rsplit(" ", 1)[1]
        titles = [item["title"] for item in data["card"]["closest"]]
        assert len(titles) == 5 and data["card"]["title"] not in titles
        assert all(title.endswith(f" topic {topic}") for title in titles)
