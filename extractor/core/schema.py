"""The JSON schema a model is shown, in the subset OpenAI strict mode accepts.

Strict mode wants every property required, `additionalProperties: false` on every object,
no defaults and no open maps. References are inlined so grammar-based servers (llama.cpp)
that handle `$ref` poorly see the same schema. Item counts come from `CardLimits`, so the
endpoint enforces them while decoding where it can.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from functools import cache, lru_cache
from typing import Any, Literal

from extractor.core.card import CardDraft, CardLimits

SECTIONS = ("title", "summary", "keywords", "themes", "signals")

# Length caps for grammar-constrained local decoding: a small model can otherwise loop inside a
# string until max_tokens. OpenAI strict mode does not accept maxLength, so these are opt-in.
# A one-string summary gets no cap: llama.cpp's grammar compiler refuses one that long.
_MAX_LENGTHS = {"title": 100, "item": 40, "cell": 80, "sentence": 220}
# "X to Y" as in every seed row; no quote, backslash or newline, so a grammar built from the
# pattern cannot let the string escape its JSON.
_CHANGE = r'^[^|"\\\n]{2,36} to [^|"\\\n]{2,36}$'


Citations = Literal["quote", "sentence", "none"]
_QUOTE = "The sentence of the article this row comes from, copied word for word."
_SENTENCE = "The number of the article sentence this row comes from."


def card_schema(
    limits: CardLimits,
    sections: Iterable[str] = SECTIONS,
    *,
    sentences: bool = False,
    max_lengths: bool = False,
    citations: Citations = "quote",
    sentence_count: int = 0,
    choices: Mapping[str, Sequence[str]] | None = None,
    cell_length: int = _MAX_LENGTHS["cell"],
) -> dict[str, Any]:
    """The strict schema of `CardDraft`, restricted to `sections`.

    `sentences` asks for the summary as a list of 3-5 sentences, which a small model ends far
    more reliably than one long string; the validate stage joins them.

    Each signal row starts with its `evidence`, so the model picks its source before it
    writes the row: a verbatim quote, or with `citations="sentence"` the number of one of the
    article's `sentence_count` numbered sentences, which a grammar-enforcing endpoint can only
    answer with a sentence that exists. `choices` holds, per list section, the only items a
    grammar-enforcing endpoint may then answer with; `cell_length` caps a row's cells."""
    # Built once per set of arguments (every card of a run asks for the same one) and handed
    # out as a fresh copy, since callers adapt it.
    chosen = tuple((name, tuple(items)) for name, items in (choices or {}).items())
    shape = (sentences, max_lengths, citations, sentence_count, cell_length)
    built: dict[str, Any] = json.loads(_schema_json(limits, tuple(sections), chosen, *shape))
    return built


@lru_cache(maxsize=256)
def _schema_json(
    limits: CardLimits,
    sections: tuple[str, ...],
    choices: tuple[tuple[str, tuple[str, ...]], ...],
    sentences: bool,
    max_lengths: bool,
    citations: Citations,
    sentence_count: int,
    cell_length: int,
) -> str:
    full = _draft_schema()
    defs = full.get("$defs", {})
    wanted = list(sections)
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown card sections: {sorted(unknown)}")
    properties = {name: _strict(full["properties"][name], defs) for name in wanted}
    for name in ("keywords", "themes", "signals"):
        if name in properties:
            low, high = limits.bounds(name)
            properties[name]["minItems"] = low
            if high is not None:
                properties[name]["maxItems"] = high
    for name, items in choices:
        if items and name in properties:
            properties[name]["items"] = {"type": "string", "enum": list(items)}
    if sentences and "summary" in properties:
        properties["summary"] = {
            "description": "The summary as 3 to 5 sentences.",
            "type": "array",
            "items": {"type": "string"},
            "minItems": 3,
            "maxItems": 5,
        }
    if "signals" in properties:
        row = properties["signals"]["items"]
        cells = {k: v for k, v in row["properties"].items() if k != "evidence"}
        if citations == "sentence":
            cite: dict[str, Any] = {
                "description": _SENTENCE,
                "type": "integer",
                "enum": list(range(1, max(sentence_count, 1) + 1)),
            }
            row["properties"] = {"evidence": cite, **cells}
        elif citations == "quote":
            row["properties"] = {"evidence": {"description": _QUOTE, "type": "string"}, **cells}
        else:  # the evidence is given, not asked for
            row["properties"] = cells
        row["required"] = list(row["properties"])
    if max_lengths:
        _cap_lengths(properties, cell_length)
    schema = {
        "type": "object",
        "properties": properties,
        "required": wanted,
        "additionalProperties": False,
    }
    return json.dumps(schema, ensure_ascii=False)


def pick_schema(candidates: list[int], count: int) -> dict[str, Any]:
    """`count` numbers of the article's sentences, each one of `candidates`."""
    return {
        "type": "object",
        "properties": {
            "sentences": {
                "description": "Numbers of the sentences that report a change.",
                "type": "array",
                "items": {"type": "integer", "enum": candidates},
                "minItems": count,
                "maxItems": count,
            }
        },
        "required": ["sentences"],
        "additionalProperties": False,
    }


@cache
def _draft_schema() -> dict[str, Any]:
    # Built once: pydantic regenerates it on every call, and `_strict` only reads it.
    return CardDraft.model_json_schema()


def _strict(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_strict(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        return _strict({**target, **{k: v for k, v in node.items() if k != "$ref"}}, defs)
    out = {k: _strict(v, defs) for k, v in node.items() if k not in ("default", "title", "$defs")}
    if out.get("type") == "object":
        out["additionalProperties"] = False
        out["required"] = list(out.get("properties", {}))
    return out


def _cap_lengths(properties: dict[str, Any], cell_length: int) -> None:
    for name, node in properties.items():
        if name == "title":
            node["maxLength"] = _MAX_LENGTHS[name]
        elif name == "summary" and node["type"] == "array":
            node["items"]["maxLength"] = _MAX_LENGTHS["sentence"]
        elif name in ("keywords", "themes"):
            node["items"]["maxLength"] = _MAX_LENGTHS["item"]
        elif name == "signals":
            for cell, rule in node["items"]["properties"].items():
                if cell != "evidence":
                    rule["maxLength"] = cell_length
            # A grammar can hold a small model to the seeds' "X to Y" form of a change.
            node["items"]["properties"]["change"]["pattern"] = _CHANGE
