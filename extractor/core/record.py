"""The results record: one line of results.jsonl, written the same way by `extractor batch`,
`extractor eval --extract` and the Python batch API, and read back by every consumer
(export, Closest links, evals). A failed article is a `FailureRecord` in the errors file,
never a card-less line among the results.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from extractor.core.article import Article
from extractor.core.card import ANY_COUNT, SignalCard
from extractor.core.errors import ExtractionError
from extractor.core.result import Attempt, ExtractionResult
from extractor.core.text import one_line, redact
from extractor.core.usage import Usage


def reference(url: str | None, text: str) -> str:
    """The stable 32-hex id of an article, as the seed documents' `Closest` links use it.

    The md5 of the article URL (surrounding whitespace stripped, otherwise as given) when one is
    known: the seeds' references are the md5 of each card's external link. Without a URL, the
    md5 of the text with whitespace runs folded to single spaces, so re-wrapping the same text
    does not change its reference. md5 is an identifier here, not a security measure.
    """
    if url is not None and url.strip():
        return hashlib.md5(url.strip().encode("utf-8"), usedforsecurity=False).hexdigest()
    return hashlib.md5(one_line(text).encode("utf-8"), usedforsecurity=False).hexdigest()


def article_key(article: Article, fingerprint: str) -> str:
    """What a rerun and the cache know an article by: its content and the policy's fingerprint."""
    digest = hashlib.sha256()
    for part in (one_line(article.text), article.title or "", fingerprint):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


class RecordArticle(BaseModel):
    """The article's metadata, and `text`: the exact text the model was sent, which every
    evidence offset of the card points into (a copied card keeps its original's)."""

    model_config = ConfigDict(extra="ignore")

    title: str | None = None
    url: str | None = None
    date: str | None = None
    text: str = ""
    pages: list[int] = Field(default_factory=list)  # where each PDF page starts in `text`


class ResultRecord(BaseModel):
    """A finished article. `key` is `article_key`; `cached` and `duplicate_of` say when the
    card was copied (from the cache, or from the same story earlier in the run)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    key: str
    reference: str
    source: str
    card: SignalCard
    article: RecordArticle = Field(default_factory=RecordArticle)
    usage: dict[str, int] = Field(default_factory=lambda: Usage().as_dict())
    model: str = ""
    mode: str = ""
    strategy: str = ""
    prompt_version: str = ""
    warnings: list[str] = Field(default_factory=list)
    seconds: float = 0.0
    attempts: int = 0
    cached: bool = False
    duplicate_of: str | None = None
    grounding: dict[str, Any] | None = None  # `Grounding.as_dict()`
    sources: dict[str, str] = Field(default_factory=dict)  # `ExtractionResult.sources`

    @classmethod
    def of(
        cls, result: ExtractionResult, *, id: str, key: str, source: str, article: Article
    ) -> ResultRecord:
        return cls(
            id=id,
            key=key,
            reference=reference(article.url, article.text),
            source=source,
            card=result.card,
            article=RecordArticle(
                title=article.title,
                url=article.url,
                date=article.date,
                text=result.article.text,
                pages=list(result.article.pages),
            ),
            usage=result.usage.as_dict(),
            model=result.model,
            mode=result.mode,
            strategy=result.strategy,
            prompt_version=result.prompt_version,
            warnings=result.warnings,
            seconds=round(result.seconds, 3),
            attempts=len(result.attempts),
            grounding=result.grounding.as_dict(),
            sources=result.sources,
        )

    @classmethod
    def parse(cls, value: Any) -> ResultRecord:
        """Validate a decoded line; cards are judged on form, not on their item counts, since
        the limits that made them may not be today's. Raises pydantic's ValidationError."""
        return cls.model_validate(value, context={"limits": ANY_COUNT})

    @classmethod
    def parse_json(cls, line: str | bytes) -> ResultRecord:
        """`parse` straight from a JSON line, without building the dicts first."""
        return cls.model_validate_json(line, context={"limits": ANY_COUNT})

    def copied(
        self, *, id: str, key: str, source: str, article: Article, duplicate_of: str | None
    ) -> ResultRecord:
        """This card reused for another input, which cost nothing."""
        return self.model_copy(
            update={
                "id": id,
                "key": key,
                "reference": reference(article.url, article.text),
                "source": source,
                "card": self.card.model_copy(update={"link": article.url}),
                "usage": Usage().as_dict(),
                "seconds": 0.0,
                "cached": duplicate_of is None,
                "duplicate_of": duplicate_of,
            }
        )

    def to_json(self) -> str:
        return self.model_dump_json()


class AttemptRecord(BaseModel):
    section: str
    error: str | None
    raw: str | None


class FailureRecord(BaseModel):
    """An article that gave no card: why, and every attempt's raw answer."""

    model_config = ConfigDict(extra="ignore")

    id: str
    key: str
    source: str
    error: str
    kind: str
    attempts: list[AttemptRecord] = Field(default_factory=list)
    usage: dict[str, int] = Field(default_factory=lambda: Usage().as_dict())

    @classmethod
    def of(
        cls,
        *,
        id: str,
        key: str,
        source: str,
        error: str,
        kind: str,
        attempts: list[Attempt],
        usage: Usage,
    ) -> FailureRecord:
        return cls(
            id=id,
            key=key,
            source=source,
            error=error,
            kind=kind,
            attempts=[AttemptRecord(section=a.section, error=a.error, raw=a.raw) for a in attempts],
            usage=usage.as_dict(),
        )

    @classmethod
    def of_error(
        cls, error: Exception, *, id: str, key: str, source: str, secret: str | None = None
    ) -> FailureRecord:
        """The record of `error`, with every attempt an `ExtractionError` carries and
        `secret` (the API key) taken out of its text."""
        extraction = error if isinstance(error, ExtractionError) else None
        return cls.of(
            id=id,
            key=key,
            source=source,
            error=redact(one_line(str(error)), secret) or type(error).__name__,
            kind=type(error).__name__,
            attempts=extraction.attempts if extraction else [],
            usage=extraction.usage if extraction else Usage(),
        )

    def to_json(self) -> str:
        return self.model_dump_json()
