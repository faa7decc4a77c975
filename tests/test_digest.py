"""`extractor digest`: a newsletter issue whose every card is in the seed format (parsed and
re-rendered byte for byte), names the issue exactly as the seed does, lists its Closest
cards, and is indexed by theme and by trend."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from extractor.cli import main
from extractor.core.card import SignalCard, Source
from extractor.core.errors import InputError
from extractor.core.record import RecordArticle, ResultRecord, reference
from extractor.store.results import read_results
from extractor.trends import write_digest
from tests.trends_synthetic import MINILM, record
from tests.trends_synthetic import write_results as plant

pytestmark = pytest.mark.native("minilm")

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_45ba7780239e8c00.txt"
ISSUE, ISSUE_URL = "20241124", "https://kghosh.substack.com/p/20241124"
_LINK = re.compile(r"^\* \[(?:\\.|[^\]\\])*\]\(([^)]+)\)$")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 planted cards, one with a Closest list of its own, and a near-duplicate copy."""
    folder = tmp_path_factory.mktemp("digest")
    planted = folder / "planted.jsonl"
    plant(planted)
    path = folder / "results.jsonl"
    lines = planted.read_text(encoding="utf-8").splitlines(True)[:40]
    lines.append(record("linked", ["Heat pumps spread"], closest=[("Older story", "ab" * 16)]))
    lines.append(record("copy", ["Heat pumps spread"], duplicate_of="linked"))
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _cards(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.txt"))}


def test_every_card_is_seed_format_and_round_trips(results: Path, tmp_path: Path) -> None:
    summary = write_digest(results, tmp_path, ISSUE, ISSUE_URL, embedder=MINILM, labels="central")
    cards = _cards(tmp_path)
    assert len(cards) == summary.cards == 41  # the copy is left out
    assert summary.left_out.copies == 1
    issue = {r.reference: r for r in read_results(results) if not r.duplicate_of}
    with_closest = 0
    for name, text in cards.items():
        card = SignalCard.from_markdown(text)
        assert card.to_markdown() == text, name
        assert card.source == Source(label=ISSUE, url=ISSUE_URL)
        assert text.splitlines()[0] == f"# __{card.title}__, from ([{ISSUE}]({ISSUE_URL}).)"
        if name.startswith("linked"):
            continue
        own = reference(card.link, "")  # the md5 of the article's URL
        for related in card.closest:  # other cards of this issue, under their own titles
            assert related.reference != own
            assert issue[related.reference].card.title == related.title
        with_closest += bool(card.closest)
    # A card with no other card of its topic among the 40 (a lone early humanoid robot)
    # rightly lists none above the floor.
    assert with_closest >= 35
    linked = SignalCard.from_markdown(next(t for n, t in cards.items() if n.startswith("linked")))
    assert [(r.title, r.reference) for r in linked.closest] == [("Older story", "ab" * 16)]
    assert (summary.kept_closest, summary.linked) == (1, with_closest)


def test_the_seed_card_comes_back_as_the_seed(tmp_path: Path) -> None:
    """The seed is one card of issue 20241124: its results line, given to the digest of that
    issue, is written back byte for byte (up to the final newline the seed files lack, as in
    test_seedformat)."""
    text = SEED.read_text(encoding="utf-8")
    seed = SignalCard.from_markdown(text)
    line = ResultRecord(
        id="meta-llama",
        key="0" * 64,
        reference="45ba7780239e8c00" * 2,
        source=seed.link or "",
        card=seed.model_copy(update={"source": None}),
        article=RecordArticle(title=seed.title, url=seed.link, date="2024-11-04"),
    )
    results = tmp_path / "results.jsonl"
    results.write_text(line.to_json() + "\n", encoding="utf-8")
    write_digest(results, tmp_path / "issue", ISSUE, ISSUE_URL, embedder=MINILM, labels="central")
    (written,) = _cards(tmp_path / "issue").values()
    assert written == text.rstrip("\n") + "\n"


def test_the_index_groups_by_theme_and_by_trend(results: Path, tmp_path: Path) -> None:
    summary = write_digest(results, tmp_path, ISSUE, ISSUE_URL, embedder=MINILM, labels="central")
    index = (tmp_path / "index.md").read_text(encoding="utf-8")
    assert index.startswith(f"# {ISSUE}\n\n41 cards from [{ISSUE}]({ISSUE_URL}).")
    by_theme, by_trend = index.split("\n## By theme\n")[1].split("\n## By trend\n")
    files = set(_cards(tmp_path))
    theme_links = [m[1] for line in by_theme.splitlines() if (m := _LINK.match(line))]
    trend_links = [m[1] for line in by_trend.splitlines() if (m := _LINK.match(line))]
    assert set(theme_links) == files and set(trend_links) == files
    assert len(trend_links) == len(files)  # each card under one trend, or under none
    assert by_theme.count("\n### ") == summary.themes
    assert "### Home Heating" in by_theme
    assert by_trend.count("\n### ") >= summary.trends > 0
    for name in files:
        card = SignalCard.from_markdown((tmp_path / name).read_text(encoding="utf-8"))
        for theme in card.themes:
            section = by_theme.split(f"### {theme}\n", 1)[1].split("\n### ", 1)[0]
            assert f"]({name})" in section


def test_without_an_issue_url_the_clause_links_the_index(results: Path, tmp_path: Path) -> None:
    assert (
        main(
            [
                "digest",
                str(results),
                "--issue",
                "Week 48",
                "-o",
                str(tmp_path),
                "--labels",
                "central",
            ]
        )
        == 0
    )
    for text in _cards(tmp_path).values():
        assert text.startswith("# __") and ", from ([Week 48](index.md).)\n" in text
        assert SignalCard.from_markdown(text).to_markdown() == text
    assert (
        (tmp_path / "index.md")
        .read_text(encoding="utf-8")
        .startswith("# Week 48\n\n41 cards from Week 48.")
    )


@pytest.mark.parametrize(
    ("issue", "url", "message"),
    [
        ("20241124", "https://example.com/a b", "cannot be written in the seed format"),
        ("two\nlines", None, "must be one line"),
    ],
)
def test_bad_issues_are_refused(
    results: Path, tmp_path: Path, issue: str, url: str | None, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        write_digest(results, tmp_path, issue, url, embedder=MINILM, labels="central")


def test_the_command_refuses_a_bad_issue_url(
    results: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "digest",
        str(results),
        "--issue",
        "1",
        "--issue-url",
        "https://x/(",
        "-o",
        str(tmp_path),
    ]
    assert main([*args, "--labels", "central"]) == 2
    err = capsys.readouterr().err
    assert "cannot be written in the seed format" in err and len(err.strip().splitlines()) == 1
