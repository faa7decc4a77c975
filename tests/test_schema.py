"""`card_schema` stays inside the JSON-schema subset that OpenAI strict mode accepts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from extractor import CardLimits
from extractor.core.card import ANY_COUNT, DEFAULT_LIMITS, CardDraft
from extractor.core.schema import SECTIONS, card_schema
from extractor.pipeline.ground import Aligner
from extractor.pipeline.validate import check_section

VARIANTS = [
    pytest.param({}, id="default"),
    pytest.param({"sentences": True}, id="sentences"),
    pytest.param({"max_lengths": True}, id="max_lengths"),
    pytest.param({"sentences": True, "max_lengths": True}, id="sentences+max_lengths"),
    *(pytest.param({"sections": [s]}, id=f"only_{s}") for s in SECTIONS),
]


def _nodes(node: Any, path: str = "$") -> Iterator[tuple[str, Any]]:
    """Every schema node; the names inside a `properties` map are names, not nodes."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            if key == "properties":
                for name, child in value.items():
                    yield from _nodes(child, f"{path}.properties.{name}")
            else:
                yield from _nodes(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _nodes(item, f"{path}[{i}]")


def _schema(options: dict[str, Any], limits: CardLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    options = dict(options)
    sections = options.pop("sections", SECTIONS)
    return card_schema(limits, sections, **options)


@pytest.mark.parametrize("options", VARIANTS)
def test_schema_follows_strict_mode_rules(options: dict[str, Any]) -> None:
    schema = _schema(options)
    assert json.loads(json.dumps(schema)) == schema
    objects = 0
    for path, node in _nodes(schema):
        assert "default" not in node, path
        assert "$ref" not in node and "$defs" not in node, path
        if node.get("type") == "object" or "properties" in node:
            objects += 1
            assert node["type"] == "object", path
            assert node.get("additionalProperties") is False, path
            assert sorted(node["required"]) == sorted(node["properties"]), path
            assert len(node["required"]) == len(set(node["required"])), path
        assert not isinstance(node.get("additionalProperties"), dict), path
        if "maxLength" in node:
            assert options.get("max_lengths"), f"maxLength without max_lengths at {path}"
    signals_included = "signals" in options.get("sections", SECTIONS)
    assert objects == 1 + signals_included  # the card and the signal row


def test_max_lengths_cap_every_bounded_string() -> None:
    schema = card_schema(DEFAULT_LIMITS, sentences=True, max_lengths=True)
    props = schema["properties"]
    assert props["title"]["maxLength"] > 0
    assert props["summary"]["items"]["maxLength"] > 0
    assert props["keywords"]["items"]["maxLength"] > 0
    assert props["themes"]["items"]["maxLength"] > 0
    row = props["signals"]["items"]["properties"]
    assert all(row[cell]["maxLength"] > 0 for cell in row if cell != "evidence")
    # A one-string summary stays uncapped even with max_lengths.
    assert "maxLength" not in card_schema(DEFAULT_LIMITS, max_lengths=True)["properties"]["summary"]


def test_max_lengths_do_not_leak_into_later_schemas() -> None:
    card_schema(DEFAULT_LIMITS, sentences=True, max_lengths=True)
    assert "maxLength" not in json.dumps(card_schema(DEFAULT_LIMITS, sentences=True))


@pytest.mark.parametrize(
    "limits",
    [DEFAULT_LIMITS, ANY_COUNT, CardLimits((1, 3), (0, 2), (4, None))],
    ids=["default", "any_count", "custom"],
)
def test_item_counts_match_limits(limits: CardLimits) -> None:
    props = card_schema(limits)["properties"]
    for name in ("keywords", "themes", "signals"):
        low, high = limits.bounds(name)
        assert props[name]["type"] == "array"
        assert props[name]["minItems"] == low
        assert props[name].get("maxItems") == high


def test_summary_as_sentences() -> None:
    summary = card_schema(DEFAULT_LIMITS, ["summary"], sentences=True)["properties"]["summary"]
    assert summary["type"] == "array" and summary["items"] == {"type": "string"}
    assert (summary["minItems"], summary["maxItems"]) == (3, 5)
    assert card_schema(DEFAULT_LIMITS, ["summary"])["properties"]["summary"]["type"] == "string"


def test_full_schema_lists_every_section_in_order() -> None:
    schema = card_schema(DEFAULT_LIMITS)
    assert list(schema["properties"]) == list(SECTIONS) == schema["required"]
    row = schema["properties"]["signals"]["items"]
    # The source first, so the model picks it before it writes the row.
    assert list(row["properties"]) == [
        "evidence", "signal", "change", "horizon_10y", "driving_force"
    ]  # fmt: skip
    assert all(p["type"] == "string" and p["description"] for p in row["properties"].values())


def test_small_models_cite_one_of_the_articles_sentences_by_number() -> None:
    schema = card_schema(DEFAULT_LIMITS, ["signals"], citations="sentence", sentence_count=7)
    evidence = schema["properties"]["signals"]["items"]["properties"]["evidence"]
    assert evidence["type"] == "integer" and evidence["enum"] == [1, 2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize("sections", [["keywords"], ["title", "signals"]])
def test_restricted_sections(sections: list[str]) -> None:
    schema = card_schema(DEFAULT_LIMITS, sections)
    assert list(schema["properties"]) == sections == schema["required"]


@pytest.mark.parametrize("sections", [["keywords", "mood"], ["link"], ["closest"]])
def test_unknown_section_raises(sections: list[str]) -> None:
    with pytest.raises(ValueError, match="unknown card sections"):
        card_schema(DEFAULT_LIMITS, sections)


SAMPLE = {
    "title": "Solar Reshapes The Grid",
    "summary": "Rooftop solar runs the grid. Batteries keep it stable. Others watch closely.",
    "keywords": [
        "South Australia",
        "rooftop solar",
        "home batteries",
        "virtual power plants",
        "tariffs",
    ],
    "themes": ["Energy Transition", "Grid Stability"],
    "signals": [
        {
            "evidence": "Rooftop solar runs the grid",
            "signal": "Solar runs the grid",
            "change": "From coal to solar",
            "horizon_10y": "Fossil-free grid",
            "driving_force": "Cheap panels",
        },
        {
            "evidence": "Batteries keep it stable",
            "signal": "Remote inverter shutdown",
            "change": "From passive to managed homes",
            "horizon_10y": "Grid-managed households",
            "driving_force": "Grid stability",
        },
    ],
}


def test_sample_satisfying_the_schema_is_a_valid_draft() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = card_schema(DEFAULT_LIMITS)
    jsonschema.validate(SAMPLE, schema)
    article = SAMPLE["summary"]
    values, _ = check_section(json.dumps(SAMPLE), "card", DEFAULT_LIMITS, aligner=Aligner(article))
    draft = CardDraft.model_validate(values)
    assert draft.title == SAMPLE["title"] and draft.keywords == SAMPLE["keywords"]
    for row, given in zip(draft.signals, SAMPLE["signals"], strict=True):
        (span,) = row.evidence
        assert span.match == "exact" and article[span.start : span.end] == given["evidence"]
    too_few = {**SAMPLE, "keywords": SAMPLE["keywords"][:4]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(too_few, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**SAMPLE, "extra": 1}, schema)
