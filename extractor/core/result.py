"""What an extraction returns, and the record of each model attempt behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from extractor.core.article import Article
from extractor.core.card import SignalCard
from extractor.core.usage import Usage


@dataclass(frozen=True)
class Attempt:
    """One request to the model and what came of it; kept so failures can be debugged."""

    section: str
    raw: str | None
    error: str | None
    finish_reason: str | None = None


@dataclass(frozen=True)
class Grounding:
    """Reference-free quality of a card, measured against its own article: which share of
    its signal rows the article supports, and which of its names the article never says."""

    rows: int = 0
    grounded_rows: int = 0
    names: int = 0
    unsupported_names: tuple[str, ...] = ()

    @property
    def grounded_rate(self) -> float | None:
        return self.grounded_rows / self.rows if self.rows else None

    @property
    def unsupported_name_rate(self) -> float | None:
        return len(self.unsupported_names) / self.names if self.names else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "grounded_rate": self.grounded_rate,
            "unsupported_name_rate": self.unsupported_name_rate,
            "rows": self.rows,
            "grounded_rows": self.grounded_rows,
            "names": self.names,
            "unsupported_names": list(self.unsupported_names),
        }


@dataclass
class ExtractionResult:
    """A card with its provenance. `article.text` is the exact text the model was sent (after
    any cut to the token budget): every evidence offset in the card points into it."""

    card: SignalCard
    usage: Usage
    model: str
    mode: str
    strategy: str
    prompt_version: str
    article: Article = field(default_factory=lambda: Article(text=""))
    attempts: list[Attempt] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    grounding: Grounding = field(default_factory=Grounding)
    # Which step wrote each card field: the model, or a mechanical one (the headline).
    sources: dict[str, str] = field(default_factory=dict)
    # How many parts of a long document were extracted and merged into this card.
    chunks: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "card": self.card.model_dump(),
            "article": {
                "title": self.article.title,
                "url": self.article.url,
                "date": self.article.date,
                "text": self.article.text,
                "pages": list(self.article.pages),
            },
            "grounding": self.grounding.as_dict(),
            "sources": self.sources,
            "usage": self.usage.as_dict(),
            "model": self.model,
            "mode": self.mode,
            "strategy": self.strategy,
            "prompt_version": self.prompt_version,
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
            "attempts": len(self.attempts),
            "chunks": self.chunks,
        }
