"""Bounded on-disk spool for validated rows while the time-series store is unreachable.

A SQLite file with one row per batch, committed with synchronous=FULL (fsync) before the
batch's MQTT messages are acknowledged. Batches are replayed oldest first. When the spool is
full, or its disk is, or its file cannot be written at all, append() says so and the caller
stops acknowledging: the broker keeps the messages (back pressure) instead of anything being
dropped. The file is opened when first needed, so a store that never fails never needs it.
"""

from __future__ import annotations

import errno
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
    full: bool  # the bounds are reached
    disk_full: bool  # the last write found no space on the spool's disk
    error: str | None  # why the last open or write failed (naming the file), if it did

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _is_disk_full(exc: Exception) -> bool:
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


class SpoolError(RuntimeError):
    """The spool file cannot be opened; the message names it."""


class Spool:
    def __init__(
        self, path: Path | str, max_values: int = 20_000_000, max_bytes: int = 1 << 30
    ) -> None:
        self.path = Path(path)
        self.max_values, self.max_bytes = max_values, max_bytes
        self._conn: sqlite3.Connection | None = None
        self._values = self._bytes = self._batches = 0
        self._oldest_created: float | None = None
        self.last_refused = False
        self.disk_full = False
        self.error: str | None = None
        if self.path.exists():  # batches of an earlier run wait to be replayed
            try:
                self._open()
            except (sqlite3.Error, OSError) as exc:
                raise SpoolError(f"cannot open the spool {self.path}: {exc}") from exc

    def _open(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS batch (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                " created REAL NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL)"
            )
            n, size, batches, oldest = conn.execute(
                "SELECT COALESCE(SUM(n), 0), COALESCE(SUM(LENGTH(data)), 0), COUNT(*),"
                " MIN(created) FROM batch"
            ).fetchone()
        except sqlite3.Error:
            conn.close()
            raise
        self._values, self._bytes, self._batches = n, size, batches
        self._oldest_created = oldest
        self._conn = conn
        return conn

    def _failed(self, exc: Exception) -> None:
        self.disk_full = _is_disk_full(exc)
        self.error = f"{self.path}: {exc}"

    def append(self, rows: Sequence[Row]) -> bool:
        """Durably add a batch; False (nothing written) when that would exceed the bounds or
        the file cannot be written (see disk_full and error)."""
        data = orjson.dumps(rows)
        if self._values + len(rows) > self.max_values or self._bytes + len(data) > self.max_bytes:
            self.last_refused = True
            return False
        created = time.time()
        try:
            conn = self._open()
            with conn:
                conn.execute(
                    "INSERT INTO batch (created, n, data) VALUES (?, ?, ?)",
                    (created, len(rows), data),
                )
        except (sqlite3.Error, OSError) as exc:
            self._failed(exc)
            return False
        if not self._batches:
            self._oldest_created = created
        self._values += len(rows)
        self._bytes += len(data)
        self._batches += 1
        self.last_refused = self.disk_full = False
        self.error = None
        return True

    def oldest(self, max_values: int = 1) -> tuple[int, list[Row]] | None:
        """The oldest batches, merged, up to max_values rows (at least one batch), and the id
        of the last one taken, which remove() is given. After an outage the spool holds
        thousands of small batches; writing each on its own costs a store round trip apiece
        and replay would fall behind the live stream."""
        if not self._batches:
            return None
        try:
            conn = self._open()
            cursor = conn.execute("SELECT id, n, data FROM batch ORDER BY id")
            try:
                last_id, rows = None, []
                for batch_id, n, data in cursor:
                    if rows and len(rows) + n > max_values:
                        break
                    last_id = batch_id
                    rows += [tuple(r) for r in orjson.loads(data)]
            finally:
                cursor.close()
        except (sqlite3.Error, OSError) as exc:
            self._failed(exc)
            return None
        if last_id is None:
            return None
        return last_id, rows

    def remove(self, through_id: int) -> bool:
        """Remove the batches up to and including through_id. False when the file could not
        be written: the batches stay and are replayed again."""
        try:
            conn = self._open()
            with conn:
                got = conn.execute(
                    "DELETE FROM batch WHERE id <= ? RETURNING n, LENGTH(data)", (through_id,)
                ).fetchall()
                nxt = conn.execute("SELECT created FROM batch ORDER BY id LIMIT 1").fetchone()
        except (sqlite3.Error, OSError) as exc:
            self._failed(exc)
            return False
        self._values -= sum(n for n, _ in got)
        self._bytes -= sum(size for _, size in got)
        self._batches -= len(got)
        self._oldest_created = nxt[0] if nxt else None
        return True

    def __len__(self) -> int:
        return self._batches

    def stats(self) -> SpoolStats:
        """From counters kept in memory: cheap enough for every status interval."""
        created = self._oldest_created
        oldest = None if created is None else round(time.time() - created, 3)
        return SpoolStats(self._batches, self._values, self._bytes, oldest, self.last_refused,
                          self.disk_full, self.error)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
