"""The article as the pipeline sees it: clean text plus whatever metadata the input carried."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass


@dataclass(frozen=True)
class Article:
    text: str
    title: str | None = None
    url: str | None = None
    date: str | None = None
    # What the input stage had to do to read it (bad bytes replaced, say): result warnings.
    warnings: tuple[str, ...] = ()
    # Where each page starts in `text`, for a PDF (the first is 0); empty for other inputs.
    pages: tuple[int, ...] = ()

    def page_at(self, offset: int) -> int | None:
        """The 1-based page that character `offset` of `text` is on; None without pages."""
        return bisect_right(self.pages, offset) if self.pages else None
