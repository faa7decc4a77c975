"""How many tokens an article costs a model, so that it is cut to fit the context window
before it is sent, not rejected after. The embedded model counts exactly with its own
tokenizer; for an endpoint, whose tokenizer is unknown here, the estimate is one token per 3
ASCII characters (English averages about 4) plus two per non-ASCII character (Chinese costs
about one with GPT-4o's tokenizer and 1.85 with SmolLM2's), so the cut errs on the safe
side for every script."""

from __future__ import annotations

import math
from collections.abc import Callable

from extractor.backends.config import Endpoint
from extractor.backends.embedded import CONTEXT_TOKENS, count_tokens

# Room the embedded model keeps for the system prompt, the task and the longest answer.
_EMBEDDED_RESERVE = 2048
# Most hosted models read 128k tokens or more; a card needs far less of a long report.
ENDPOINT_BUDGET = 100_000


def estimate(text: str) -> int:
    ascii_chars = len(text.encode("ascii", "ignore"))
    return math.ceil(ascii_chars / 3) + 2 * (len(text) - ascii_chars)


def counter(endpoint: Endpoint) -> Callable[[str], int]:
    return count_tokens if endpoint.embedded else estimate


def article_budget(endpoint: Endpoint) -> int:
    return CONTEXT_TOKENS - _EMBEDDED_RESERVE if endpoint.embedded else ENDPOINT_BUDGET
