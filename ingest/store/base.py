"""The time-series store interface shared by the ingester (writes) and analytics/web (reads).

Series key = (installation, sensor); a point is identified by series key + timestamp, so
writing the same point twice stores it once (redelivered MQTT messages must not duplicate).
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

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def every_ns(every: timedelta) -> int:
    ns = to_ns(EPOCH + every)
    if ns <= 0:
        raise ValueError("aggregate interval must be positive")
    return ns


def point_rows(points: Sequence[Point]) -> list[Row]:
    return [(p.installation, p.sensor, to_ns(p.ts), float(p.value)) for p in points]


@runtime_checkable
class TimeSeriesStore(Protocol):
    def write(self, points: Sequence[Point]) -> None:
        """Store points; idempotent on installation + sensor + ts. Raises StoreUnavailable."""

    def write_rows(self, rows: Sequence[Row]) -> None:
        """Same as write() for (installation, sensor, ts_ns, value) tuples (ingest hot path)."""

    def latest(self, installation: str) -> dict[str, Point]:
        """The most recent point of each sensor of the installation, keyed by sensor."""

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
