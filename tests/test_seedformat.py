"""The seed markdown format: exact round trips, lenient parsing, line-numbered errors, escaping."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from extractor import CardFormatError, SignalCard
from extractor.core.card import ANY_COUNT, Related, SignalRow, Source

SEEDS = sorted((Path(__file__).resolve().parent.parent / "seeds").glob("*.txt"))
SEED = SEEDS[0].read_text(encoding="utf-8")
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")

MINI = """\
# __Grid Goes Solar__

## Summary

Rooftop solar now runs the grid for hours.

## Keywords

* solar
* batteries

## Themes

* Energy

## Signals

| Signal | Change | 10y horizon | Driving force |
|---|---|---|---|
| Solar runs grid | Coal to solar | Fossil-free grid | Cheap panels |

## Closest

* [Older article](0123456789abcdef0123456789abcdef)
"""


def _line_of(doc: str, marker: str) -> int:
    return next(i for i, line in enumerate(doc.split("\n"), start=1) if marker in line)


def _fixed_point(doc: str) -> SignalCard:
    card = SignalCard.from_markdown(doc)
    once = card.to_markdown()
    again = SignalCard.from_markdown(once)
    assert again == card
    assert again.to_markdown() == once
    return card


@pytest.mark.parametrize("path", SEEDS, ids=[p.name for p in SEEDS])
def test_seed_round_trips_byte_for_byte(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    out = SignalCard.from_markdown(text).to_markdown()
    assert out == text.rstrip("\n") + "\n"


def test_seed_fields_are_parsed() -> None:
    card = SignalCard.from_markdown(SEED)
    assert card.title == "Meta Opens Llama AI to Government"
    assert card.source == Source(label="20241124", url="https://kghosh.substack.com/p/20241124")
    assert card.link is not None and card.link.startswith("https://www.theverge.com/")
    assert len(card.keywords) == 10 and card.keywords[0] == "Meta"
    assert card.themes == [
        "Artificial Intelligence",
        "Government Policies",
        "Military Applications",
    ]
    assert card.signals[0].cells() == (
        "Meta permits military use of Llama AI",
        "Open-source to military use",
        "Enhanced military AI capabilities",
        "National security and AI competition",
    )
    assert len(card.closest) == 5
    assert card.closest[0].reference == "68e7b200c5a0cca0bf92e4f1303a85a0"


def _unpadded(doc: str) -> str:
    out = []
    for line in doc.split("\n"):
        if line.startswith("|:"):
            out.append("|---|---|---|---|")
        elif line.startswith("|"):
            out.append("|" + "|".join(c.strip() for c in line.strip("|").split("|")) + "|")
        else:
            out.append(line)
    return "\n".join(out)


VARIANTS = {
    "no_from_clause": lambda d: re.sub(r", from \(.*\)$", "", d, count=1, flags=re.M),
    "no_external_link": lambda d: re.sub(r"^__\[External link\].*\n", "", d, flags=re.M),
    "no_closest": lambda d: d.split("\n## Closest")[0] + "\n",
    "unpadded_table": _unpadded,
    "dash_bullets": lambda d: d.replace("\n* ", "\n- "),
    "crlf": lambda d: d.replace("\n", "\r\n"),
    "plain_title": lambda d: d.replace(
        "# __Meta Opens Llama AI to Government__", "# Meta Opens Llama AI to Government"
    ),
}


@pytest.mark.parametrize("name", VARIANTS)
def test_other_layouts_parse_to_a_fixed_point(name: str) -> None:
    doc = VARIANTS[name](SEED)
    assert doc != SEED
    card = _fixed_point(doc)
    seed = SignalCard.from_markdown(SEED)
    expected = {
        "no_from_clause": seed.model_copy(update={"source": None}),
        "no_external_link": seed.model_copy(update={"link": None}),
        "no_closest": seed.model_copy(update={"closest": []}),
    }.get(name, seed)
    assert card == expected


def test_unpadded_table_renders_padded() -> None:
    out = SignalCard.from_markdown(_unpadded(SEED)).to_markdown()
    assert out == SEED.rstrip("\n") + "\n"


def _replace_line(doc: str, old: str, new: str) -> str:
    assert old in doc
    return doc.replace(old, new, 1)


MALFORMED = [
    (
        "unknown_section",
        _replace_line(MINI, "## Themes", "## Trends"),
        "## Trends",
        "unknown section 'Trends'",
    ),
    (
        "three_cells",
        _replace_line(
            MINI,
            "| Solar runs grid | Coal to solar | Fossil-free grid | Cheap panels |",
            "| Solar runs grid | Coal to solar | Fossil-free grid |",
        ),
        "| Solar runs grid",
        "table row has 3 cells, expected 4",
    ),
    (
        "wrong_header",
        _replace_line(MINI, "| 10y horizon |", "| Horizon |"),
        "| Signal |",
        "expected table columns",
    ),
    (
        "bad_separator",
        _replace_line(MINI, "|---|---|---|---|", "|---|---|???|---|"),
        "|---|",
        "separator",
    ),
    (
        "closest_not_link",
        _replace_line(
            MINI, "* [Older article](0123456789abcdef0123456789abcdef)", "* Older article, see 0123"
        ),
        "* Older article",
        "[title](reference)",
    ),
    (
        "keyword_not_bullet",
        _replace_line(MINI, "* batteries", "batteries"),
        "batteries",
        "'* keyword'",
    ),
    (
        "text_before_section",
        _replace_line(MINI, "# __Grid Goes Solar__\n", "# __Grid Goes Solar__\nStray prose\n"),
        "Stray prose",
        "text before the first '## ' section",
    ),
    ("duplicate_section", MINI + "\n## THEMES\n\n* Again\n", "## THEMES", "'THEMES' appears twice"),
    (
        "no_title",
        MINI.replace("# __Grid Goes Solar__", "Grid Goes Solar"),
        "Grid Goes Solar",
        "title line",
    ),
    (
        "empty_summary",
        _replace_line(MINI, "Rooftop solar now runs the grid for hours.\n", ""),
        "## Summary",
        "Summary section is empty",
    ),
    (
        "missing_signals",
        MINI.split("\n## Signals")[0].rstrip("\n"),
        "* Energy",
        "missing section '## Signals'",
    ),
]


@pytest.mark.parametrize(
    ("doc", "marker", "message"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_malformed_document_names_line_and_problem(doc: str, marker: str, message: str) -> None:
    expected_line = _line_of(doc, marker)
    with pytest.raises(CardFormatError) as caught:
        SignalCard.from_markdown(doc)
    assert caught.value.line == expected_line
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"line {expected_line}: ")


@pytest.mark.parametrize("doc", ["", "\n\n", "  \r\n\t\n"])
def test_empty_document(doc: str) -> None:
    with pytest.raises(CardFormatError, match="empty") as caught:
        SignalCard.from_markdown(doc)
    assert caught.value.line == 1


def test_mini_document_is_valid() -> None:
    # The base of the malformed cases must itself parse, or those cases prove nothing.
    card = _fixed_point(MINI)
    assert card.keywords == ["solar", "batteries"]
    assert card.closest == [
        Related(title="Older article", reference="0123456789abcdef0123456789abcdef")
    ]


def test_missing_section_line_is_within_the_document() -> None:
    doc = MINI.split("## Signals")[0]  # ends in "\n\n": the last line is blank line 15
    with pytest.raises(CardFormatError) as caught:
        SignalCard.from_markdown(doc)
    assert caught.value.line == len(doc.splitlines())


def test_invalid_values_in_a_wellformed_document_raise_card_format_error() -> None:
    doc = _replace_line(MINI, "* batteries", "* SOLAR")
    with pytest.raises(CardFormatError, match=r"keywords: .*duplicate keyword"):
        SignalCard.from_markdown(doc)


def _table_lines(markdown: str) -> list[str]:
    return [line for line in markdown.split("\n") if line.startswith("|")]


def test_pipes_and_newlines_are_escaped() -> None:
    rows = [
        SignalRow.model_construct(
            signal="A | B",
            change="from x\nto y",
            horizon_10y="ends in pipe |",
            driving_force="back\\slash",
        ),
        SignalRow.model_construct(
            signal="plain", change="|leading", horizon_10y="two\n\nlines", driving_force="x|y|z"
        ),
    ]
    card = SignalCard.model_construct(
        title="Pipes | and\nbreaks",
        summary="One line.\nTwo line.",
        keywords=["C|D", "multi\nline"],
        themes=["T | U"],
        signals=rows,
        link=None,
        source=None,
        closest=[Related.model_construct(title="Rel | ated\nitem", reference="abc")],
    )
    markdown = card.to_markdown()
    for line in _table_lines(markdown):
        assert len(_UNESCAPED_PIPE.split(line)) == 6, line  # 4 cells between 5 pipes
    back = SignalCard.from_markdown(markdown)
    assert back.title == "Pipes | and breaks"
    assert back.summary == "One line. Two line."
    assert back.keywords == ["C|D", "multi line"]
    assert back.themes == ["T | U"]
    assert [r.cells() for r in back.signals] == [
        ("A | B", "from x to y", "ends in pipe |", "back\\slash"),
        ("plain", "|leading", "two lines", "x|y|z"),
    ]
    assert back.closest[0].title == "Rel | ated item"


def test_valid_card_with_pipes_round_trips_exactly() -> None:
    seed = SignalCard.from_markdown(SEED)
    signals = [SignalRow(signal="A|B", change="x \\| y", horizon_10y="ends |", driving_force="z\\")]
    card = SignalCard.model_validate(
        {
            **seed.model_dump(),
            "keywords": ["a|b", "c"],
            "signals": [s.model_dump() for s in signals],
        },
        context={"limits": ANY_COUNT},
    )
    assert SignalCard.from_markdown(card.to_markdown()) == card


@pytest.mark.parametrize(
    "update",
    [
        {"link": "https://en.wikipedia.org/wiki/Llama_(language_model)"},
        {"summary": "## Keywords matter. Meta opened Llama to the government."},
        {"source": Source(label="Issue [47]", url="https://example.com/47")},
    ],
    ids=["link_with_parentheses", "summary_starting_with_heading", "source_label_with_brackets"],
)
def test_any_valid_card_round_trips(update: dict[str, object]) -> None:
    card = SignalCard.from_markdown(SEED).model_copy(update=update)
    assert SignalCard.from_markdown(card.to_markdown()) == card
