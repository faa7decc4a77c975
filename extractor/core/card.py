"""The signal card: what a model must produce and what the seed format stores.

Two layers: `CardDraft` is the part a model writes and the schema it is shown, so it has
no defaults and no open dicts (OpenAI strict mode rejects both); `SignalCard` adds what the
pipeline knows and a model must not invent (links, source, related articles).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from extractor.core import seedformat
from extractor.core.errors import CardFormatError
from extractor.core.text import fold, has_words, one_line


@dataclass(frozen=True)
class CardLimits:
    """Inclusive (min, max) item counts; None means unbounded on that side."""

    keywords: tuple[int, int | None] = (5, 15)
    themes: tuple[int, int | None] = (2, 6)
    signals: tuple[int, int | None] = (2, 8)

    def bounds(self, field: str) -> tuple[int, int | None]:
        bounds: tuple[int, int | None] = getattr(self, field)
        return bounds


DEFAULT_LIMITS = CardLimits()
# Gold documents written by people are judged on form, not on how many items they list.
ANY_COUNT = CardLimits(keywords=(0, None), themes=(0, None), signals=(0, None))


def _limits(info: ValidationInfo) -> CardLimits:
    context = info.context or {}
    limits = context.get("limits", DEFAULT_LIMITS)
    return limits if isinstance(limits, CardLimits) else DEFAULT_LIMITS


def _one_line(value: str, what: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError(f"{what} must be one line, without line breaks")
    value = value.strip()
    if not has_words(value):
        raise ValueError(f"{what} must not be blank or a placeholder such as '...'")
    return value


def _check_items(items: list[str], field: str, info: ValidationInfo) -> list[str]:
    cleaned = [_one_line(item, f"each {field[:-1]}") for item in items]
    seen: dict[str, str] = {}
    for item in cleaned:
        key = fold(item)
        if key in seen:
            raise ValueError(f"duplicate {field[:-1]} {item!r} (same as {seen[key]!r})")
        seen[key] = item
    _check_count(len(cleaned), field, info)
    return cleaned


def _check_count(count: int, field: str, info: ValidationInfo) -> None:
    low, high = _limits(info).bounds(field)
    if count < low:
        raise ValueError(f"needs at least {low} {field}, got {count}")
    if high is not None and count > high:
        raise ValueError(f"allows at most {high} {field}, got {count}")


Match = Literal["exact", "fuzzy", "none"]


class Evidence(BaseModel):
    """Where in the article a signal row comes from: `start` and `end` are character offsets
    into `ExtractionResult.article.text`, the exact text the model was sent.

    `exact`: `text` is `article.text[start:end]`, found as the model cited it (up to case,
    quote marks, dashes and spacing). `fuzzy`: the closest passage to a citation that was not
    found as given; `text` is still that passage of the article. `none`: the citation is not
    in the article, or it is but shares nothing with the row it should support; `text` is
    what the model gave, with the offsets of the passage it pointed at, if any. `page`: the
    1-based page of a PDF the passage starts on (None for inputs without pages)."""

    model_config = ConfigDict(extra="forbid")

    text: str
    start: int | None
    end: int | None
    match: Match
    page: int | None = None


class SignalRow(BaseModel):
    """One row of the signals table: Signal | Change | 10y horizon | Driving force."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    signal: str = Field(description="The observed development, as a short phrase.")
    change: str = Field(description="The shift it represents, written 'from X to Y' style.")
    horizon_10y: str = Field(description="Where this could lead within ten years.")
    driving_force: str = Field(description="The underlying force pushing the change.")
    # Where the article says it; kept in JSON and the viewer, never in the seed format.
    evidence: list[Evidence] = Field(default_factory=list)

    @field_validator("signal", "change", "horizon_10y", "driving_force")
    @classmethod
    def _cell(cls, value: str, info: ValidationInfo) -> str:
        return _one_line(value, f"table cell {info.field_name}")

    def key(self) -> str:
        return fold(" | ".join(self.cells()))

    def cells(self) -> tuple[str, str, str, str]:
        return (self.signal, self.change, self.horizon_10y, self.driving_force)

    @property
    def grounded(self) -> bool:
        """Some of its evidence was found in the article and supports it."""
        return any(span.match != "none" for span in self.evidence)


class CardDraft(BaseModel):
    """The model-written part of a card; its JSON schema is what a model is asked to fill."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(description="A short headline for the article, in title case.")
    summary: str = Field(description="One paragraph of 3-6 sentences summarising the article.")
    keywords: list[str] = Field(description="Named entities and key terms from the article.")
    themes: list[str] = Field(description="Broad topic areas the article belongs to.")
    signals: list[SignalRow] = Field(description="Signals of change found in the article.")

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        return _one_line(value, "title")

    @field_validator("summary")
    @classmethod
    def _summary(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("summary must not be blank")
        if re.search(r"\n\s*\n", value):
            raise ValueError("summary must be one paragraph, without blank lines")
        return one_line(value)

    @field_validator("keywords", "themes")
    @classmethod
    def _items(cls, value: list[str], info: ValidationInfo) -> list[str]:
        assert info.field_name is not None
        return _check_items(value, info.field_name, info)

    @field_validator("signals")
    @classmethod
    def _signals(cls, value: list[SignalRow], info: ValidationInfo) -> list[SignalRow]:
        seen: set[str] = set()
        for row in value:
            if row.key() in seen:
                raise ValueError(f"duplicate signal row {row.signal!r}")
            seen.add(row.key())
        _check_count(len(value), "signals", info)
        return value


class Source(BaseModel):
    """Where the card was published, e.g. a newsletter issue: ([20241124](https://...))."""

    model_config = ConfigDict(extra="forbid")

    label: str
    url: str


class Related(BaseModel):
    """A closest related article: its title and a stable reference (a 32-hex id in the seeds)."""

    model_config = ConfigDict(extra="forbid")

    title: str
    reference: str


class SignalCard(CardDraft):
    """A complete signal card, as the seed documents store it."""

    link: str | None = None
    source: Source | None = None
    closest: list[Related] = Field(default_factory=list)

    @classmethod
    def from_draft(cls, draft: CardDraft, **extra: Any) -> SignalCard:
        return cls.model_validate({**draft.model_dump(), **extra}, context={"limits": ANY_COUNT})

    @classmethod
    def from_markdown(cls, text: str) -> SignalCard:
        """Parse a card in the seed format; raises `CardFormatError` naming the line."""
        fields = seedformat.parse(text)
        try:
            return cls.model_validate(fields, context={"limits": ANY_COUNT})
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise CardFormatError(f"{where}: {first['msg']}", line=None) from err

    def to_markdown(self) -> str:
        return seedformat.render(self)
