"""Text normalisation shared by the validators, the repairs and the seed format, so that
what one layer counts as a duplicate or a blank the others count the same way."""

from __future__ import annotations

import re

_WORD = re.compile(r"\w")


def one_line(text: str) -> str:
    """Whitespace runs, line breaks included, folded to single spaces."""
    return " ".join(text.split())


def fold(text: str) -> str:
    """The comparison key: one line, case-folded."""
    return one_line(text).casefold()


def has_words(text: str) -> bool:
    """False for blanks and placeholders such as '...' or '--'."""
    return _WORD.search(text) is not None


def redact(text: str, secret: str | None) -> str:
    """`text` with every occurrence of `secret` (an API key) replaced; keys too short to be
    real are left alone so that ordinary words are never blanked."""
    if not secret or len(secret) < 8:
        return text
    return text.replace(secret, "[redacted]")
