"""Across cards: trends over time (`trends`, `write_trends`) and newsletter issues
(`write_digest`).

from extractor.trends import trends, write_trends
report = trends(["q1.jsonl", "q2.jsonl"], period="month")
write_trends(report, Path("radar"))

Loaded on first use, so importing the package costs nothing until a trend is asked for.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from extractor.trends.digest import DigestSummary, write_digest
    from extractor.trends.report import write_trends
    from extractor.trends.run import Member, Trend, TrendReport, trends

_HOMES = {
    "DigestSummary": "digest",
    "write_digest": "digest",
    "write_trends": "report",
    "Member": "run",
    "Trend": "run",
    "TrendReport": "run",
    "trends": "run",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"extractor.trends.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'extractor.trends' has no attribute {name!r}")


__all__ = [
    "DigestSummary",
    "Member",
    "Trend",
    "TrendReport",
    "trends",
    "write_digest",
    "write_trends",
]
