"""The results and errors files. Each line is written whole and flushed as its article
finishes, so a kill -9 loses only the work in flight; a line cut by a crash is removed on
the next start, and what is already there is skipped, so a rerun resumes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any


def repair(path: Path) -> int:
    """Drop a last line left without its newline by a crash; returns the bytes removed."""
    if not path.is_file():
        return 0
    with path.open("r+b") as handle:
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


def read_lines(path: Path) -> Any:
    """Parsed lines of a JSONL file, skipping any that do not parse."""
    if not path.is_file():
        return
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                yield value


class Store:
    def __init__(self, results: Path, errors: Path) -> None:
        self.results_path = results
        self.errors_path = errors
        self.repaired = repair(results) + repair(errors)
        # (id, key) of every article already done: a rerun skips exactly these.
        self.done: set[tuple[str, str]] = {
            (str(line.get("id")), str(line.get("key"))) for line in read_lines(results)
        }
        results.parent.mkdir(parents=True, exist_ok=True)
        errors.parent.mkdir(parents=True, exist_ok=True)
        self._results: IO[str] = results.open("a", encoding="utf-8")
        self._errors: IO[str] = errors.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._append(self._results, record)
        self.done.add((str(record["id"]), str(record["key"])))

    def fail(self, record: dict[str, Any]) -> None:
        self._append(self._errors, record)

    @staticmethod
    def _append(handle: IO[str], record: dict[str, Any]) -> None:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        handle.flush()

    def close(self) -> None:
        self._results.close()
        self._errors.close()
        self._compact_errors()

    def _compact_errors(self) -> None:
        """Keep one line per failed article, its latest, and none for articles done since."""
        if not self.errors_path.is_file():
            return
        latest: dict[tuple[str, str], str] = {}
        with self.errors_path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    value = json.loads(line)
                except json.JSONDecodeError:
                    continue
                ident = (str(value.get("id")), str(value.get("key")))
                if ident not in self.done:
                    latest.pop(ident, None)
                    latest[ident] = line if line.endswith("\n") else line + "\n"
        temporary = self.errors_path.with_name(self.errors_path.name + ".tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            handle.writelines(latest.values())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.errors_path)
