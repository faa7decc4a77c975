"""Validate stage: decode a model's answer, make the repairs that cannot change its meaning,
and check it against the card schema, returning errors a model can act on when re-asked.

Repairs are only mechanical (duplicates, blank items, surplus items beyond the limit, stray
line breaks) and each is reported as a warning; anything needing judgement goes back to the
model.
"""

from __future__ import annotations

import json
import re
from functools import cached_property, lru_cache
from typing import Any, cast

from pydantic import ValidationError

from extractor.core.card import CardDraft, CardLimits
from extractor.core.schema import SECTIONS
from extractor.core.text import fold, has_words, one_line
from extractor.pipeline.ground import Aligner

CARD = "card"
_LISTS = ("keywords", "themes", "signals")
_LOOP = re.compile(r"\b(\w+)(?:\W+\1\b){3,}", re.IGNORECASE)
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)
_MARKER = re.compile(r"\s*\[\d{1,4}\]\s*")


class Invalid(Exception):
    """The answer cannot be used as it is; `errors` are short sentences for the re-ask prompt,
    and `usable` the list items that passed, to be carried into the next attempt."""

    def __init__(
        self,
        errors: list[str],
        usable: dict[str, list[Any]] | None = None,
        grounding: bool = False,
        values: dict[str, Any] | None = None,
        repairs: list[str] | None = None,
    ) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors
        self.usable = usable or {}
        # Asked because rows lack support, not for being invalid: `values` and `repairs` are
        # the valid answer, which stands if the re-ask does no better.
        self.grounding = grounding
        self.values = values or {}
        self.repairs = repairs or []


def decode_json(text: str) -> Any:
    """The JSON value in an answer, tolerating code fences, prose around one object and raw
    control characters inside strings (small models emit literal newlines)."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1)
    try:
        return json.loads(stripped, strict=False)
    except json.JSONDecodeError as first:
        start, end = stripped.find("{"), stripped.rfind("}")
        if 0 <= start < end:
            try:
                return json.loads(stripped[start : end + 1], strict=False)
            except json.JSONDecodeError:
                pass
        raise Invalid(
            [f"the answer is not valid JSON ({first.msg} at character {first.pos})"]
        ) from None


def check_section(
    text: str,
    section: str,
    limits: CardLimits,
    instructions: str = "",
    article: str = "",
    carry: dict[str, list[Any]] | None = None,
    aligner: Aligner | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Validated values for `section` ('card' for all of them) and the repairs made.

    Text copied from the `instructions` (the prompt's examples) but absent from the `article`
    is rejected: small models echo examples instead of reading the article. `carry` holds list
    items a previous attempt got right, so a re-ask only has to add what was missing. Each
    signal row's citation becomes evidence spans through `aligner` (none without one)."""
    data = decode_json(text)
    names = SECTIONS if section == CARD else (section,)
    if not isinstance(data, dict):
        raise Invalid([f"expected a JSON object with the keys {', '.join(names)}"])
    missing = [name for name in names if name not in data]
    if missing:
        raise Invalid([f"missing key {name!r}" for name in missing])
    values = {name: data[name] for name in names}
    for name, kept in (carry or {}).items():
        if isinstance(values.get(name), list):
            values[name] = [*kept, *values[name]]
    echo = _Echo(instructions, article)
    warnings = _repair(values, limits, echo)
    _ground(values, aligner)
    usable = {k: v for k, v in values.items() if k in _LISTS and isinstance(v, list)}
    context = {"limits": limits}
    try:
        if section == CARD:
            values = CardDraft.model_validate(values, context=context).model_dump()
        else:
            draft = cast(
                CardDraft,
                CardDraft.__pydantic_validator__.validate_assignment(
                    CardDraft.model_construct(), section, values[section], context=context
                ),
            )
            values = {section: draft.model_dump()[section]}
    except ValidationError as err:
        raise Invalid(readable(err), usable) from None
    texts = [v for k in ("title", "summary") if isinstance(v := values.get(k), str)]
    errors = [
        f"{text!r} is copied from the instructions, not from the article"
        for text in texts
        if echo(text)
    ]
    errors += [f"{text[:60]!r}... repeats one word over and over" for text in texts if _stuck(text)]
    if errors:
        raise Invalid(errors)
    return values, warnings


def picked(text: str, candidates: list[int], low: int) -> list[int]:
    """The sentence numbers an answer picks, in its order, each once; at least `low`."""
    data = decode_json(text)
    numbers = data.get("sentences") if isinstance(data, dict) else data
    if not isinstance(numbers, list):
        raise Invalid(['expected {"sentences": [...]}, a list of sentence numbers'])
    allowed = set(candidates)
    kept = list(dict.fromkeys(n for n in numbers if isinstance(n, int) and n in allowed))
    if len(kept) < low:
        raise Invalid(
            [f"give {low} different sentence numbers, from {min(allowed)} to {max(allowed)}"]
        )
    return kept


def _ground(values: dict[str, Any], aligner: Aligner | None) -> None:
    """Replace each row's citation by its evidence spans; rows carried from an earlier attempt
    have theirs already."""
    rows = values.get("signals")
    if not isinstance(rows, list):
        return
    for row in rows:
        if not isinstance(row, dict):
            continue
        citation = row.pop("evidence", None)
        if isinstance(citation, list):
            row["evidence"] = citation
        elif aligner is not None:
            cells = [v for v in _cells(row) if isinstance(v, str)]
            row["evidence"] = [span.model_dump() for span in aligner.cite(citation, cells)]


def _cells(row: dict[str, Any]) -> list[Any]:
    return [value for key, value in row.items() if key != "evidence"]


def _stuck(text: Any) -> bool:
    """A word four or more times in a row: the loop a small model falls into."""
    return isinstance(text, str) and _LOOP.search(text) is not None


class _Echo:
    """Whether a text was copied from the prompt's instructions rather than the article."""

    def __init__(self, instructions: str, article: str) -> None:
        self.instructions = _folded(instructions)
        self._article = article

    @cached_property
    def article(self) -> str:
        # Folded only for a text the instructions hold, which most answers never have.
        return fold(self._article)

    def __call__(self, text: str) -> bool:
        folded = fold(text)
        return len(folded) > 3 and folded in self.instructions and folded not in self.article


@lru_cache(maxsize=32)
def _folded(instructions: str) -> str:
    """The instructions folded once: every answer to the same prompt is checked against them."""
    return fold(instructions)


def readable(error: ValidationError) -> list[str]:
    messages = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "answer"
        messages.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
    return messages


def _repair(values: dict[str, Any], limits: CardLimits, echo: _Echo) -> list[str]:
    warnings: list[str] = []
    numbers = _Numbers()
    for name in ("keywords", "themes"):
        items = values.get(name)
        if isinstance(items, list) and all(isinstance(i, str) for i in items):
            items = [numbers(one_line(item)) for item in items]
            # Themes are a vocabulary of broad areas: naming one the prompt named is legitimate.
            if name == "keywords":
                items = _drop(items, echo, name, "copied from the instructions", warnings)
            items = _drop(items, _stuck, name, "repeating one word", warnings)
            values[name] = _unique(items, name, limits, warnings, key=fold)
    rows = values.get("signals")
    if isinstance(rows, list) and all(isinstance(r, dict) for r in rows):
        rows = [
            {k: v if k == "evidence" else numbers(_flatten(v)) for k, v in row.items()}
            for row in rows
        ]
        for bad, why in (
            (_placeholder_row, "with empty cells"),
            (lambda row: any(echo(v) for v in _cells(row)), "copied from the instructions"),
            (lambda row: any(_stuck(v) for v in _cells(row)), "repeating one word"),
        ):
            rows = _drop(rows, bad, "signals", why, warnings)
        values["signals"] = _unique(rows, "signals", limits, warnings, key=_row_key)
    sentences = values.get("summary")
    if isinstance(sentences, list) and all(isinstance(s, str) for s in sentences):
        # Sentences of fewer than three words are fragments a small model strays into.
        sentences = [numbers(s) for s in sentences]
        kept = [s.strip() for s in sentences if len(s.split()) >= 3 and not _stuck(s)]
        if len(kept) < len(sentences):
            warnings.append(f"summary: dropped {len(sentences) - len(kept)} fragments or loops")
        values["summary"] = " ".join(kept)
    if isinstance(values.get("title"), str):
        values["title"] = numbers(_flatten(values["title"]))
    if isinstance(values.get("summary"), str):
        values["summary"] = numbers(values["summary"])
    if numbers.removed:
        warnings.append(f"removed {numbers.removed} sentence numbers copied from the prompt")
    return warnings


class _Numbers:
    """Drops the `[n]` sentence numbers a small model copies from its numbered article."""

    def __init__(self) -> None:
        self.removed = 0

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str) or "[" not in value:
            return value
        cleaned, count = _MARKER.subn(" ", value)
        self.removed += count
        return " ".join(cleaned.split()) if count else value


def _placeholder_row(row: dict[str, Any]) -> bool:
    return not all(isinstance(v, str) and has_words(v) for v in _cells(row))


def _drop(items: list[Any], bad: Any, name: str, why: str, warnings: list[str]) -> list[Any]:
    kept = [item for item in items if not bad(item)]
    if len(kept) < len(items):
        warnings.append(f"{name}: dropped {len(items) - len(kept)} items {why}")
    return kept


def _unique(
    items: list[Any], name: str, limits: CardLimits, warnings: list[str], key: Any
) -> list[Any]:
    kept, seen = [], set()
    for item in items:
        folded = key(item)
        if has_words(folded) and folded not in seen:
            seen.add(folded)
            kept.append(item)
    if len(kept) < len(items):
        warnings.append(f"{name}: dropped {len(items) - len(kept)} blank or repeated items")
    high = limits.bounds(name)[1]
    if high is not None and len(kept) > high:
        warnings.append(f"{name}: kept the first {high} of {len(kept)} items")
        kept = kept[:high]
    return kept


def _flatten(value: Any) -> Any:
    return one_line(value) if isinstance(value, str) else value


def _row_key(row: dict[str, Any]) -> str:
    # The same key as SignalRow.key, so a row kept here is never a duplicate there.
    return fold(" | ".join(str(v) for v in _cells(row)))
