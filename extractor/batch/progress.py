"""What a person watching a batch run sees: a tqdm bar with rate, ETA, tokens and estimated
cost, or, with --quiet (for logs), a plain line every 30 seconds."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm

from extractor.batch.run import BatchSummary, Outcome


class _Bar(tqdm):  # type: ignore[misc]
    """tqdm without its monitor thread: a run forks its worker processes after the bar
    appears, and forks only a process with no other thread."""

    monitor_interval = 0


class Progress:
    def __init__(self, total: int, summary: BatchSummary, quiet: bool = False) -> None:
        self.summary = summary
        self.quiet = quiet
        self.total = total
        self._stream: TextIO = sys.stderr
        self._last_log = time.monotonic()
        self._bar: _Bar | None = None
        if not quiet:
            self._bar = _Bar(total=total, unit="article", file=self._stream, dynamic_ncols=True)

    def _status(self) -> str:
        counts, usage = self.summary.counts, self.summary.usage
        cost = self.summary.usage.cost(self.summary.model)
        money = f" ${cost:.4f}" if cost is not None else ""
        return (
            f"done {counts['done']} cached {counts['cached']} dup {counts['duplicate']} "
            f"skipped {counts['skipped']} failed {counts['failed']} | "
            f"{usage.total_tokens:,} tokens{money}"
        )

    def update(self, outcome: Outcome) -> None:
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix_str(self._status(), refresh=False)
            return
        now = time.monotonic()
        if now - self._last_log >= 30:
            self._last_log = now
            finished = sum(self.summary.counts.values())
            print(f"{finished}/{self.total} | {self._status()}", file=self._stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
