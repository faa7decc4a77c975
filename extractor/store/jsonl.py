"""The one JSONL reader. A line is a record only when it ends in a newline: our writers put
a line and its newline down in one write, so a last line without one was cut by a crash (or
is being written right now), and every reader treats it the same way, as no record."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Line:
    number: int  # 1-based
    raw: bytes  # as read, newline included
    value: dict[str, Any] | None  # the JSON object, or None (not JSON, not an object, torn)

    @property
    def torn(self) -> bool:
        return not self.raw.endswith(b"\n")


def lines(path: Path) -> Iterator[Line]:
    """Every line of `path`, blank ones included (nothing if the file does not exist)."""
    try:
        stream = path.open("rb")
    except FileNotFoundError:
        return
    with stream:
        for number, raw in enumerate(stream, start=1):
            value = None
            if raw.endswith(b"\n") and raw.strip():
                try:
                    decoded = json.loads(raw)
                except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
                    decoded = None
                value = decoded if isinstance(decoded, dict) else None
            yield Line(number, raw, value)


def records(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of `path`, skipping torn and unreadable lines."""
    for line in lines(path):
        if line.value is not None:
            yield line.value


def repair(path: Path) -> int:
    """Drop a last line left without its newline by a crash; returns the bytes removed."""
    try:
        handle = path.open("r+b")
    except FileNotFoundError:
        return 0
    with handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return 0
        block = min(size, 1 << 16)
        position = size
        while position > 0:
            start = max(0, position - block)
            handle.seek(start)
            chunk = handle.read(position - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                handle.truncate(start + newline + 1)
                return size - (start + newline + 1)
            position = start
        handle.truncate(0)
        return size
