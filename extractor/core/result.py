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


@dataclass
class ExtractionResult:
    """A card with its provenance: `article` holds the input's metadata (its text is left
    out so that results stay small)."""

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

    def as_dict(self) -> dict[str, Any]:
        return {
            "card": self.card.model_dump(),
            "article": {
                "title": self.article.title,
                "url": self.article.url,
                "date": self.article.date,
            },
            "usage": self.usage.as_dict(),
            "model": self.model,
            "mode": self.mode,
            "strategy": self.strategy,
            "prompt_version": self.prompt_version,
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
            "attempts": len(self.attempts),
        }
