"""Markdown for text that came from articles and models: one line, nothing a viewer would
run or read as structure."""

from __future__ import annotations

from extractor.core.text import one_line


def inline(text: object) -> str:
    """Safe in a table cell or a list item: line breaks folded, pipes escaped, and HTML made
    inert (markdown viewers render raw HTML)."""
    line = one_line(str(text)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return line.replace("|", "\\|")


def link_text(text: object) -> str:
    """Safe between the brackets of a [link](target) too."""
    line = one_line(str(text)).replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    return inline(line)
