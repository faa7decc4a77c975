"""Token usage summed over every request of an extraction, retries and re-asks included,
because those are billed too."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# USD per million tokens (input, output). Users pass their own table to override or extend it.
DEFAULT_PRICES: Mapping[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "smollm2-135m-instruct": (0.0, 0.0),
}


@dataclass
class Usage:
    """`requests` counts answered requests; `transport_retries` the extra sends after a 429,
    5xx or network failure; `reasks` the requests that returned a validation error to the model."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    transport_retries: int = 0
    reasks: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.requests += other.requests
        self.transport_retries += other.transport_retries
        self.reasks += other.reasks

    def cost(
        self, model: str, prices: Mapping[str, tuple[float, float]] | None = None
    ) -> float | None:
        """Estimated USD cost, or None when the model is not in the price table."""
        table = DEFAULT_PRICES if prices is None else prices
        price = table.get(model)
        if price is None:
            return None
        return (self.prompt_tokens * price[0] + self.completion_tokens * price[1]) / 1_000_000

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "requests": self.requests,
            "transport_retries": self.transport_retries,
            "reasks": self.reasks,
        }
