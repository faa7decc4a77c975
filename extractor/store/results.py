"""The results and errors files of a run, and the one writer of both.

Each finished article is one line, put down with a single write and flushed to the OS at
once, so a kill -9 loses only the articles in flight. A write that fails (a full disk) is
undone back to the last whole line and stops the run with a `StorageError` naming the file;
a line cut short by a crash is removed on the next start. What the results file holds is
skipped by a rerun: it is known by (id, key).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from extractor.core.errors import ConfigError, StorageError
from extractor.core.record import FailureRecord, ResultRecord
from extractor.store.files import atomic_write
from extractor.store.jsonl import lines, records, repair


def errors_path(results: Path) -> Path:
    """Where failures go by default: `<results stem>.errors.jsonl` beside the results."""
    return results.with_name(results.stem + ".errors.jsonl")


def read_results(path: Path) -> Iterator[ResultRecord]:
    """The valid records of a results file, in file order."""
    for value in records(path):
        try:
            yield ResultRecord.parse(value)
        except ValidationError:
            continue


def read_failures(path: Path) -> Iterator[FailureRecord]:
    for value in records(path):
        try:
            yield FailureRecord.model_validate(value)
        except ValidationError:
            continue


class _Appender:
    """An append-only file written a whole line at a time; a failed write is rolled back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            self._size = os.fstat(self._fd).st_size
        except OSError as err:
            raise _storage(path, err) from None

    def append(self, line: str) -> None:
        data = (line + "\n").encode("utf-8", "surrogatepass")
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as err:
            # No half line for the next run to find; failing that, its start repairs it.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise _storage(self.path, err) from None
        self._size += len(data)

    def close(self) -> None:
        try:
            os.close(self._fd)
        except OSError as err:
            raise _storage(self.path, err) from None


def _storage(path: Path, error: OSError) -> StorageError:
    return StorageError(f"cannot write {path}: {error.strerror or error}")


class ResultsWriter:
    """Appends result and failure records; the caller holds the run's `RunLock`."""

    def __init__(self, results: Path, errors: Path | None = None) -> None:
        self.results_path = results
        self.errors_path = errors or errors_path(results)
        for path in (results, self.errors_path):
            if path.exists() and not path.is_file():
                raise ConfigError(f"{path} is not a regular file; results need one")
        try:
            self.repaired = repair(results) + repair(self.errors_path)
        except OSError as err:
            raise _storage(results, err) from None
        # (id, key) of every article already done: a rerun skips exactly these.
        self.done: set[tuple[str, str]] = {
            (str(value.get("id")), str(value.get("key"))) for value in records(results)
        }
        self._results = _Appender(results)
        self._errors = _Appender(self.errors_path)

    def write(self, record: ResultRecord, line: str | None = None) -> None:
        """Append `record`; `line` is its JSON when the caller already has it."""
        self._results.append(line or record.to_json())
        self.done.add((record.id, record.key))

    def fail(self, record: FailureRecord, line: str | None = None) -> None:
        self._errors.append(line or record.to_json())

    def close(self) -> None:
        self._results.close()
        self._errors.close()
        self._compact_errors()

    def _compact_errors(self) -> None:
        """Keep one line per failed article, its latest, and none for articles done since."""
        latest: dict[tuple[str, str], bytes] = {}
        for line in lines(self.errors_path):
            if line.value is None:
                continue
            ident = (str(line.value.get("id")), str(line.value.get("key")))
            if ident not in self.done:
                latest.pop(ident, None)
                latest[ident] = line.raw
        try:
            if not latest and os.path.getsize(self.errors_path) == 0:
                return
            with atomic_write(self.errors_path) as handle:
                handle.writelines(latest.values())
        except OSError as err:
            raise _storage(self.errors_path, err) from None
