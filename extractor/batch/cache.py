"""A local content-addressed cache of extraction results in SQLite, keyed by the article and
everything that shapes its card (model, prompt version, parameters), so reruns and repeated
articles cost nothing. WAL mode keeps writes cheap and the file consistent after a crash."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any


def default_path() -> Path:
    if os.environ.get("EXTRACTOR_CACHE"):
        return Path(os.environ["EXTRACTOR_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "signal-extractor" / "cards.sqlite"


class CardCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS results "
            "(key TEXT PRIMARY KEY, record TEXT NOT NULL, created REAL NOT NULL)"
        )

    def get(self, key: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT record FROM results WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            record: dict[str, Any] = json.loads(row[0])
        except json.JSONDecodeError:
            return None
        return record

    def put(self, key: str, record: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO results (key, record, created) VALUES (?, ?, ?)",
            (key, json.dumps(record, ensure_ascii=False), time.time()),
        )

    def close(self) -> None:
        self._db.close()
