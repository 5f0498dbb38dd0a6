"""Embedded time-series store: one SQLite file (WAL), one row per point.

The primary key (installation, sensor, ts_ns) makes INSERT OR REPLACE idempotent and is also
the index every read uses. WITHOUT ROWID keeps the table clustered on it.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import orjson

from ingest.store.base import (
    Bucket,
    Point,
    Row,
    SensorSummary,
    StoreUnavailable,
    every_ns,
    from_ns,
    point_rows,
    to_ns,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS point (
    installation TEXT NOT NULL,
    sensor TEXT NOT NULL,
    ts_ns INTEGER NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (installation, sensor, ts_ns)
) WITHOUT ROWID
"""


class SQLiteStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared under a lock: the ingester writes from one worker thread and
        # readers are short; other processes read concurrently thanks to WAL.
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a returned write() survives a power cut, which is what an MQTT ack promises.
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._conn.execute(_SCHEMA)

    def write(self, points: Sequence[Point]) -> None:
        self.write_rows(point_rows(points))

    def write_rows(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        with self._lock:
            try:
                self._conn.execute("BEGIN")
                # One statement over a JSON array instead of executemany: executemany drops
                # and retakes the GIL around every row's sqlite3_step, and each retake waits
                # for paho's and the collector's threads (up to the 5 ms switch interval), so
                # a 20k-row batch crawled under load. json_each runs the whole batch in one
                # step without the GIL. orjson writes floats round-trip exact (repr digits).
                self._conn.execute(
                    "INSERT OR REPLACE INTO point (installation, sensor, ts_ns, value)"
                    " SELECT value->>0, value->>1, value->>2, value->>3 FROM json_each(?)",
                    (orjson.dumps(rows),),
                )
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise StoreUnavailable(f"sqlite write to {self.path} failed: {exc}") from exc

    def _query(self, sql: str, params: Sequence[object]) -> list[tuple]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"sqlite read from {self.path} failed: {exc}") from exc

    def latest(self, installation: str) -> dict[str, Point]:
        # Skip-scan over the primary key: one index seek per sensor instead of a full scan.
        result: dict[str, Point] = {}
        sensor = ""
        while True:
            rows = self._query(
                "SELECT sensor FROM point WHERE installation = ? AND sensor > ?"
                " ORDER BY sensor LIMIT 1",
                (installation, sensor),
            )
            if not rows:
                return result
            sensor = rows[0][0]
            ts_ns, value = self._query(
                "SELECT ts_ns, value FROM point WHERE installation = ? AND sensor = ?"
                " ORDER BY ts_ns DESC LIMIT 1",
                (installation, sensor),
            )[0]
            result[sensor] = Point(installation, sensor, from_ns(ts_ns), value)

    def raw(
        self,
        installation: str,
        sensor: str,
        start: datetime,
        end: datetime,
        limit: int | None = None,
    ) -> list[Point]:
        rows = self._query(
            "SELECT ts_ns, value FROM point WHERE installation = ? AND sensor = ?"
            " AND ts_ns >= ? AND ts_ns < ? ORDER BY ts_ns LIMIT ?",
            (installation, sensor, to_ns(start), to_ns(end), -1 if limit is None else limit),
        )
        return [Point(installation, sensor, from_ns(ts), v) for ts, v in rows]

    def aggregate(
        self, installation: str, sensor: str, start: datetime, end: datetime, every: timedelta
    ) -> list[Bucket]:
        start_ns, step = to_ns(start), every_ns(every)
        # Two passes (mean first, then squared deviations) keep the std accurate for values
        # with a large offset and a small spread, where sum-of-squares formulas cancel out.
        rows = self._query(
            """
            WITH b AS (
                SELECT (ts_ns - :start) / :step AS k, value FROM point
                WHERE installation = :inst AND sensor = :sensor
                  AND ts_ns >= :start AND ts_ns < :end
            ), m AS (
                SELECT k, AVG(value) AS mean, MIN(value) AS mn, MAX(value) AS mx, COUNT(*) AS n
                FROM b GROUP BY k
            )
            SELECT m.k, m.mean, m.mn, m.mx, m.n, SUM((b.value - m.mean) * (b.value - m.mean))
            FROM b JOIN m ON b.k = m.k GROUP BY m.k ORDER BY m.k
            """,
            {"start": start_ns, "end": to_ns(end), "step": step, "inst": installation,
             "sensor": sensor},
        )
        return [
            Bucket(from_ns(start_ns + k * step), mean, mn, mx, _std(ss, n), n)
            for k, mean, mn, mx, n, ss in rows
        ]

    def window_summary(
        self, installation: str, start: datetime, end: datetime
    ) -> dict[str, SensorSummary]:
        rows = self._query(
            """
            WITH w AS (
                SELECT sensor, ts_ns, value FROM point
                WHERE installation = :inst AND ts_ns >= :start AND ts_ns < :end
            ), m AS (
                SELECT sensor, AVG(value) AS mean, MIN(value) AS mn, MAX(value) AS mx,
                       COUNT(*) AS n, MIN(ts_ns) AS t0, MAX(ts_ns) AS t1
                FROM w GROUP BY sensor
            )
            SELECT m.sensor, m.mean, m.mn, m.mx, m.n,
                   SUM((w.value - m.mean) * (w.value - m.mean)),
                   (SELECT value FROM w AS f WHERE f.sensor = m.sensor AND f.ts_ns = m.t0),
                   (SELECT value FROM w AS l WHERE l.sensor = m.sensor AND l.ts_ns = m.t1)
            FROM w JOIN m ON w.sensor = m.sensor GROUP BY m.sensor ORDER BY m.sensor
            """,
            {"inst": installation, "start": to_ns(start), "end": to_ns(end)},
        )
        return {
            s: SensorSummary(s, mean, _std(ss, n), mn, mx, n, first, last)
            for s, mean, mn, mx, n, ss, first, last in rows
        }

    def ping(self) -> bool:
        try:
            self._query("SELECT 1", ())
        except StoreUnavailable:
            return False
        return True

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _std(sum_sq_dev: float, n: int) -> float:
    return math.sqrt(sum_sq_dev / (n - 1)) if n > 1 else 0.0
