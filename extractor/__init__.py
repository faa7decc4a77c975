"""signal-extractor: news articles in, foresight signal cards out.

from extractor import extract_article
result = extract_article(text)
print(result.card.to_markdown())
"""

from extractor.batch.run import (
    BatchOptions,
    BatchSummary,
    Outcome,
    aiter_batch,
    extract_batch,
)
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
