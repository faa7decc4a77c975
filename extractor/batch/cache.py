"""A local content-addressed cache of extraction results in SQLite, keyed by the article and
everything that shapes its card (model, prompt version, parameters), so reruns and repeated
articles cost nothing. WAL mode keeps writes cheap and the file consistent after a crash;
writes are committed `_GROUP` at a time (and at close), not one transaction per card, so a
crash loses at most the last few cards of the cache, never a line of the results file.

A cache is a convenience, never a reason to stop: a file that is not a database (or is
damaged) is moved aside and a new one started, with a warning. A disk that cannot take a
write stops the run like any other storage failure, naming the file.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

from pydantic import ValidationError

from extractor.core.errors import StorageError
from extractor.core.record import ResultRecord

# SQLite's primary result codes for a damaged file, and for a full or failing disk.
_DAMAGED = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
_DISK = {10, 13}  # SQLITE_IOERR, SQLITE_FULL
_GROUP = 64  # cards per commit


def default_path() -> Path:
    if os.environ.get("EXTRACTOR_CACHE"):
        return Path(os.environ["EXTRACTOR_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "signal-extractor" / "cards.sqlite"


def _code(error: sqlite3.Error) -> int:
    return (getattr(error, "sqlite_errorcode", 0) or 0) & 0xFF


class CardCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.warnings: list[str] = []
        self._uncommitted = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError(f"cannot create the cache {path}: {err.strerror or err}") from None
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as err:
            if _code(err) not in _DAMAGED:
                raise StorageError(f"cannot open the cache {path}: {err}") from None
            aside = self._move_aside(err)
            self._db = self._open()
            self.warnings.append(
                f"the cache {path} was damaged ({err}); moved it to {aside.name} and "
                "started a new one"
            )

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS results "
                "(key TEXT PRIMARY KEY, record TEXT NOT NULL, created REAL NOT NULL)"
            )
            db.execute("SELECT key FROM results LIMIT 1").fetchall()
        except BaseException:
            db.close()
            raise
        return db

    def _move_aside(self, error: sqlite3.Error) -> Path:
        aside = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        except OSError as err:
            raise StorageError(
                f"the cache {self.path} is damaged ({error}) and cannot be moved aside: "
                f"{err.strerror or err}; remove it or pass --no-cache"
            ) from None
        return aside

    def get(self, key: str) -> ResultRecord | None:
        try:
            row = self._db.execute("SELECT record FROM results WHERE key = ?", (key,)).fetchone()
        except sqlite3.DatabaseError as err:
            self._trouble(err, "read")
            return None
        if row is None:
            return None
        try:
            return ResultRecord.parse_json(row[0])
        except ValidationError:
            return None

    def put(self, key: str, record: ResultRecord, line: str | None = None) -> None:
        """Keep `record`; `line` is its JSON when the caller already has it."""
        try:
            if not self._uncommitted:
                self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR REPLACE INTO results (key, record, created) VALUES (?, ?, ?)",
                (key, line or record.to_json(), time.time()),
            )
            self._uncommitted += 1
            if self._uncommitted >= _GROUP:
                self.commit()
        except sqlite3.DatabaseError as err:
            self._abandon()
            self._trouble(err, "write")

    def commit(self) -> None:
        """Make the cards kept so far durable (and visible to other processes)."""
        if not self._uncommitted:
            return
        self._uncommitted = 0
        try:
            self._db.execute("COMMIT")
        except sqlite3.DatabaseError as err:
            self._abandon()
            self._trouble(err, "write")

    def _abandon(self) -> None:
        """Drop a group that failed: the cache loses those cards, the results keep them."""
        self._uncommitted = 0
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def _trouble(self, error: sqlite3.DatabaseError, doing: str) -> None:
        """A full disk stops the run; damage found mid-run is a warning, the card is kept in
        the results file all the same."""
        if _code(error) in _DISK:
            raise StorageError(f"cannot {doing} the cache {self.path}: {error}") from None
        warning = f"the cache {self.path} could not {doing} a card ({error})"
        if warning not in self.warnings:
            self.warnings.append(warning)

    def close(self) -> None:
        try:
            self.commit()
        finally:
            self._db.close()
