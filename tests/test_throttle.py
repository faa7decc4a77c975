from __future__ import annotations

import asyncio
import time

import pytest

from extractor.backends.throttle import Throttle


async def test_a_pause_holds_every_waiter() -> None:
    throttle = Throttle()
    throttle.pause(0.2)
    throttle.pause(0.05)  # a shorter pause never cuts a longer one short
    started = time.monotonic()
    await asyncio.gather(*(throttle.wait() for _ in range(5)))
    assert time.monotonic() - started >= 0.19
    assert throttle.pauses == 1


async def test_requests_per_minute_are_spaced() -> None:
    throttle = Throttle(rpm=600)  # one every 0.1 s
    started = time.monotonic()
    await asyncio.gather(*(throttle.wait() for _ in range(5)))
    assert time.monotonic() - started >= 0.39


async def test_tokens_per_minute_wait_for_the_window() -> None:
    throttle = Throttle(tpm=100)
    throttle.record(60)
    await asyncio.wait_for(throttle.wait(), 1)  # under the cap: no wait
    throttle.record(60)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(throttle.wait(), 0.2)  # over it: waits for the minute to pass


async def test_requests_in_flight_are_capped() -> None:
    throttle = Throttle(in_flight=2)
    holding = peak = 0

    async def request() -> None:
        nonlocal holding, peak
        async with throttle.sending():
            holding += 1
            peak = max(peak, holding)
            await asyncio.sleep(0.01)
            holding -= 1

    await asyncio.gather(*(request() for _ in range(7)))
    assert peak == 2


def test_caps_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Throttle(rpm=0)
    with pytest.raises(ValueError):
        Throttle(in_flight=0)
