"""What an extraction returns, and the record of each model attempt behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    card: SignalCard
    usage: Usage
    model: str
    mode: str
    strategy: str
    prompt_version: str
    attempts: list[Attempt] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "card": self.card.model_dump(),
            "usage": self.usage.as_dict(),
            "model": self.model,
            "mode": self.mode,
            "strategy": self.strategy,
            "prompt_version": self.prompt_version,
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
            "attempts": len(self.attempts),
        }
