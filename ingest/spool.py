"""Bounded on-disk spool for validated rows while the time-series store is unreachable.

A SQLite file with one row per batch, committed with synchronous=FULL (fsync) before the
batch's MQTT messages are acknowledged. Batches are replayed oldest first. When the spool is
full, append() says so and the caller stops acknowledging: the broker keeps the messages
(back pressure) instead of anything being dropped.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from ingest.store.base import Row


@dataclass(frozen=True)
class SpoolStats:
    batches: int
    values: int
    bytes: int
    oldest_age_s: float | None
    full: bool

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class Spool:
    def __init__(
        self, path: Path | str, max_values: int = 20_000_000, max_bytes: int = 1 << 30
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_values, self.max_bytes = max_values, max_bytes
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS batch (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " created REAL NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL)"
        )
        n, size, batches = self._conn.execute(
            "SELECT COALESCE(SUM(n), 0), COALESCE(SUM(LENGTH(data)), 0), COUNT(*) FROM batch"
        ).fetchone()
        self._values, self._bytes, self._batches = n, size, batches
        self.last_refused = False

    def append(self, rows: Sequence[Row]) -> bool:
        """Durably add a batch; False (nothing written) when that would exceed the bounds."""
        data = orjson.dumps(rows)
        if self._values + len(rows) > self.max_values or self._bytes + len(data) > self.max_bytes:
            self.last_refused = True
            return False
        with self._conn:
            self._conn.execute(
                "INSERT INTO batch (created, n, data) VALUES (?, ?, ?)",
                (time.time(), len(rows), data),
            )
        self._values += len(rows)
        self._bytes += len(data)
        self._batches += 1
        self.last_refused = False
        return True

    def oldest(self) -> tuple[int, list[Row]] | None:
        row = self._conn.execute("SELECT id, data FROM batch ORDER BY id LIMIT 1").fetchone()
        if row is None:
            return None
        return row[0], [tuple(r) for r in orjson.loads(row[1])]

    def remove(self, batch_id: int) -> None:
        with self._conn:
            got = self._conn.execute(
                "DELETE FROM batch WHERE id = ? RETURNING n, LENGTH(data)", (batch_id,)
            ).fetchone()
        if got:
            self._values -= got[0]
            self._bytes -= got[1]
            self._batches -= 1

    def __len__(self) -> int:
        return self._batches

    def stats(self) -> SpoolStats:
        oldest = None
        if self._batches:
            (created,) = self._conn.execute(
                "SELECT created FROM batch ORDER BY id LIMIT 1"
            ).fetchone()
            oldest = round(time.time() - created, 3)
        return SpoolStats(self._batches, self._values, self._bytes, oldest, self.last_refused)

    def close(self) -> None:
        self._conn.close()
