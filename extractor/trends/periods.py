"""Calendar periods that articles are counted in: ISO weeks, months or quarters.

A period is an integer that counts periods from year 1, so that consecutive periods differ by
one and empty ones are easy to fill in; `label` names it for people ("2024-W05", "2024-05",
"2024-Q2").
"""

from __future__ import annotations

from datetime import date

from extractor.core.errors import InputError

PERIODS = ("week", "month", "quarter")
DEFAULT_PERIOD = "month"


def parse_day(value: str | None) -> date | None:
    """The day of an ISO date or datetime string ("2024-05-03", "2024-05-03T10:00:00Z"), or
    None for no date or one that names no day: such an article is undated."""
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


def parse_since(value: str | date | None) -> date | None:
    """A --since value: an ISO day; anything else is the caller's mistake."""
    if value is None or isinstance(value, date):
        return value
    day = parse_day(value) if len(value.strip()) == 10 else None
    if day is None:
        raise InputError(f"--since {value!r} is not a date such as 2024-07-01")
    return day


class Calendar:
    """Maps days to periods of one kind and back to labels."""

    def __init__(self, period: str = DEFAULT_PERIOD) -> None:
        if period not in PERIODS:
            raise InputError(f"unknown period {period!r}; choose one of {', '.join(PERIODS)}")
        self.period = period

    def index(self, day: date) -> int:
        if self.period == "week":
            return (day.toordinal() - 1) // 7  # day 1 (0001-01-01) is a Monday
        if self.period == "month":
            return day.year * 12 + day.month - 1
        return day.year * 4 + (day.month - 1) // 3

    def label(self, index: int) -> str:
        if self.period == "week":
            year, week, _ = date.fromordinal(index * 7 + 1).isocalendar()
            return f"{year}-W{week:02d}"
        if self.period == "month":
            return f"{index // 12}-{index % 12 + 1:02d}"
        return f"{index // 4}-Q{index % 4 + 1}"
