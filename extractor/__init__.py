"""signal-extractor: news articles in, foresight signal cards out.

from extractor import extract_article
result = extract_article(text)
print(result.card.to_markdown())
"""

from typing import TYPE_CHECKING, Any

from extractor.core.article import Article
from extractor.core.card import CardLimits, SignalCard, SignalRow
from extractor.core.errors import (
    CardFormatError,
    ConfigError,
    EndpointError,
    ExtractionError,
    ExtractorError,
    InputError,
    ScoringError,
)
from extractor.core.result import Attempt, ExtractionResult
from extractor.core.usage import Usage
from extractor.pipeline.extract import Extractor, aextract_article, extract_article
from extractor.pipeline.load import load_article

if TYPE_CHECKING:
    from extractor.batch.run import (
        BatchOptions,
        BatchSummary,
        Outcome,
        aiter_batch,
        extract_batch,
    )

_BATCH = ("BatchOptions", "BatchSummary", "Outcome", "aiter_batch", "extract_batch")


def __getattr__(name: str) -> Any:
    # The batch API loads on first use, so `extractor extract` does not pay for its imports.
    if name in _BATCH:
        from extractor.batch import run

        return getattr(run, name)
    raise AttributeError(f"module 'extractor' has no attribute {name!r}")


__all__ = [
    "Article",
    "Attempt",
    "BatchOptions",
    "BatchSummary",
    "CardFormatError",
    "CardLimits",
    "ConfigError",
    "EndpointError",
    "ExtractionError",
    "ExtractionResult",
    "Extractor",
    "ExtractorError",
    "InputError",
    "Outcome",
    "ScoringError",
    "SignalCard",
    "SignalRow",
    "Usage",
    "aextract_article",
    "aiter_batch",
    "extract_article",
    "extract_batch",
    "load_article",
]
