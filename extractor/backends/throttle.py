"""Pacing shared by every request of a run. When the endpoint rate-limits one request, the
whole run waits out the Retry-After instead of every task hammering it in turn; optional
requests-per-minute and tokens-per-minute caps keep a run under a known quota, and an optional
cap on requests in flight keeps what the endpoint sees at the run's concurrency while
articles are prepared and checked around it."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext


class Throttle:
    def __init__(
        self, rpm: float | None = None, tpm: float | None = None, in_flight: int | None = None
    ) -> None:
        if any(cap is not None and cap <= 0 for cap in (rpm, tpm, in_flight)):
            raise ValueError("rate caps must be positive")
        self.rpm = rpm
        self.tpm = tpm
        self._slots = asyncio.Semaphore(in_flight) if in_flight is not None else None
        self.pauses = 0
        self.paused_seconds = 0.0
        self._paused_until = 0.0
        self._next_slot = 0.0
        self._tokens: deque[tuple[float, int]] = deque()
        self._token_total = 0

    def pause(self, seconds: float) -> None:
        """Hold every request until `seconds` from now (a later pause extends, never shortens)."""
        until = time.monotonic() + max(0.0, seconds)
        if until > self._paused_until:
            self.pauses += 1
            self.paused_seconds += until - max(self._paused_until, time.monotonic())
            self._paused_until = until

    def record(self, tokens: int) -> None:
        if self.tpm is not None and tokens > 0:
            self._tokens.append((time.monotonic(), tokens))
            self._token_total += tokens

    def _tokens_in_window(self, now: float) -> int:
        while self._tokens and self._tokens[0][0] <= now - 60:
            self._token_total -= self._tokens.popleft()[1]
        return self._token_total

    async def wait(self) -> None:
        while True:
            now = time.monotonic()
            delay = self._paused_until - now
            if self.tpm is not None and self._tokens_in_window(now) >= self.tpm:
                delay = max(delay, self._tokens[0][0] + 60 - now)
            if delay <= 0:
                break
            await asyncio.sleep(delay)
        if self.rpm is not None:
            # Evenly spaced send slots; a task takes the next free one and sleeps until it.
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + 60.0 / self.rpm
            if slot > now:
                await asyncio.sleep(slot - now)

    @asynccontextmanager
    async def sending(self) -> AsyncIterator[None]:
        """One request's time on the wire: paced by `wait`, and one of at most `in_flight`."""
        slot: AbstractAsyncContextManager[object] = self._slots or nullcontext()
        async with slot:
            await self.wait()
            yield
