"""The time-series store interface shared by the ingester (writes) and analytics/web (reads).

Series key = (installation, sensor); a point is identified by series key + timestamp, so
writing the same point twice stores it once (redelivered MQTT messages must not duplicate).
A point once stored keeps its value: a second, different value for the same sensor and time
is two instruments (or a device bug) disagreeing, and silently taking the later one would
rewrite history a lot certificate may already quote. The write hands such rows back as
conflicts, with the value kept, for the caller to reject with its reason.
Timestamps are UTC; stores keep them in integer nanoseconds since the epoch, Python
datetimes carry microseconds, so sub-microsecond parts are dropped on the way in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

# The ingester's hot path moves plain tuples (installation, sensor, ts_ns, value) instead
# of Point objects: building 200k dataclasses a second costs more than the store write.
Row = tuple[str, str, int, float]
# A row whose point already held another value, and that value (kept).
Conflict = tuple[Row, float]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Conflicts(list[Conflict]):
    """A write's conflicts, and how many points the write added: exact repeats of a point
    (stored already, or earlier in the same write) and conflicts add none, so a redelivered
    batch is not counted as stored twice."""

    def __init__(self, conflicts: Sequence[Conflict] = (), added: int = 0) -> None:
        super().__init__(conflicts)
        self.added = added


class StoreError(RuntimeError):
    """The store rejected a request (bad query, bad data)."""


class StoreUnavailable(StoreError):
    """The store cannot be reached now; the same call may succeed later (spool meanwhile)."""


@dataclass(frozen=True, slots=True)
class Point:
    installation: str
    sensor: str
    ts: datetime  # UTC aware
    value: float


@dataclass(frozen=True, slots=True)
class Bucket:
    """Aggregate of one interval [start, start + every)."""

    start: datetime
    mean: float
    min: float
    max: float
    std: float  # sample standard deviation (n - 1); 0.0 for a single value
    count: int


@dataclass(frozen=True, slots=True)
class SensorSummary:
    sensor: str
    mean: float
    std: float  # sample standard deviation (n - 1); 0.0 for a single value
    min: float
    max: float
    count: int
    first: float  # value of the earliest point in the window
    last: float  # value of the latest point in the window


def to_ns(ts: datetime) -> int:
    if ts.tzinfo is None:
        raise ValueError("naive datetime given; the time-series store takes UTC-aware times")
    delta = ts - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def from_ns(ns: int) -> datetime:
    return EPOCH + timedelta(microseconds=ns // 1_000)


# The times a store holds: nanoseconds in a signed 64-bit integer, 1677-09-21 to 2262-04-11
# (InfluxDB's own bounds, one short of the integer's; the SQLite store's column alike).
MIN_NS, MAX_NS = -(2**63) + 2, 2**63 - 2


def bound_ns(ts: datetime) -> int:
    """A query bound in nanoseconds, moved within the times a store holds: a range asked for
    in any year (the pages take 1000 to 9000) finds what the store has of it, nothing beyond."""
    return min(max(to_ns(ts), MIN_NS), MAX_NS)


def bucket_start_ns(start: datetime, step: int) -> int:
    """bound_ns(start), moved on by whole buckets of `step` ns when the store holds no time
    that early, so the buckets within keep the places they have counted from `start`."""
    start_ns = to_ns(start)
    if start_ns < MIN_NS:
        start_ns += -(-(MIN_NS - start_ns) // step) * step
    return min(start_ns, MAX_NS)


def every_ns(every: timedelta) -> int:
    ns = to_ns(EPOCH + every)
    if ns <= 0:
        raise ValueError("aggregate interval must be positive")
    return ns


def point_rows(points: Sequence[Point]) -> list[Row]:
    return [(p.installation, p.sensor, to_ns(p.ts), float(p.value)) for p in points]


def first_of_each(rows: Sequence[Row]) -> tuple[list[Row], list[Conflict]]:
    """The rows with each point once (its first value), and the later rows of a point that
    differ from that first value. Exact repeats are dropped: they change nothing."""
    if len({(r[0], r[1], r[2]) for r in rows}) == len(rows):  # the usual case, at half the cost
        return list(rows), []
    first: dict[tuple[str, str, int], float] = {}
    unique: list[Row] = []
    conflicts: list[Conflict] = []
    for row in rows:
        key = (row[0], row[1], row[2])
        kept = first.get(key)
        if kept is None:
            first[key] = row[3]
            unique.append(row)
        elif kept != row[3]:
            conflicts.append((row, kept))
    return unique, conflicts


@runtime_checkable
class TimeSeriesStore(Protocol):
    def write(self, points: Sequence[Point]) -> Conflicts:
        """Store points; idempotent on installation + sensor + ts. A point that already holds
        (or earlier in `points` gets) another value keeps it: such rows come back as
        conflicts, oldest write first. Raises StoreUnavailable."""

    def write_rows(self, rows: Sequence[Row]) -> Conflicts:
        """Same as write() for (installation, sensor, ts_ns, value) tuples (ingest hot path)."""

    def set_sole_writer(self, sole: bool) -> None:
        """sole: no other writer adds points to the series this store writes, until told
        otherwise; a store may then skip reading before it writes. False: read first."""

    def latest(self, installation: str, until: datetime | None = None) -> dict[str, Point]:
        """The most recent point of each sensor of the installation, keyed by sensor; with
        `until`, the most recent stamped at or before it (a device clock may run ahead)."""

    def raw(
        self,
        installation: str,
        sensor: str,
        start: datetime,
        end: datetime,
        limit: int | None = None,
    ) -> list[Point]:
        """Points in [start, end), oldest first, at most `limit` of them."""

    def aggregate(
        self,
        installation: str,
        sensor: str,
        start: datetime,
        end: datetime,
        every: timedelta,
        with_std: bool = True,
    ) -> list[Bucket]:
        """Buckets [start + i*every, start + (i+1)*every) inside [start, end) that hold data.
        with_std=False leaves std NaN: charts draw mean/min/max only, and in SQLite the
        second pass the std needs costs twice the rest."""

    def window_summary(
        self, installation: str, start: datetime, end: datetime
    ) -> dict[str, SensorSummary]:
        """Per sensor statistics of [start, end) (the process window of a lot)."""

    def ping(self) -> bool:
        """True when the store answers now."""

    def close(self) -> None: ...
