"""The article as the pipeline sees it: clean text plus whatever metadata the input carried."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Article:
    text: str
    title: str | None = None
    url: str | None = None
    date: str | None = None
    # What the input stage had to do to read it (bad bytes replaced, say): result warnings.
    warnings: tuple[str, ...] = ()
