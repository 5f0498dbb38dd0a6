"""Alarm events: a stored value beyond a sensor's alarm limit opens an event, the event follows
the peak, and the first value back within limits closes it.

Two ingesters of one shared subscription each get part of a sensor's readings, so neither can
decide its alarms alone. Each one's tracker tells from its own readings whether a batch changes
an alarm; if so, persist_alarms merges the batch's readings of that sensor into its events in
the database, one ingester at a time per sensor, in the same transaction as the rejects, and
the tracker takes the database's answer. A batch that changes no alarm costs no round trip.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter, itemgetter

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session

from ingest.registry import Registry
from ingest.store.base import Row, from_ns, to_ns
from lims.kernel.clock import utcnow
from lims.kernel.models.process import AlarmEvent


@dataclass(slots=True)
class ActiveAlarm:
    installation: str
    sensor: str
    kind: str  # low | high
    limit: float
    started_at: datetime
    peak_value: float
    last_beyond_at: datetime  # the newest reading beyond the limit
    ended_at: datetime | None = None

    @classmethod
    def of(cls, ev: AlarmEvent) -> ActiveAlarm:
        return cls(ev.installation, ev.sensor, ev.kind, ev.limit, ev.started_at, ev.peak_value,
                   ev.last_beyond_at, ev.ended_at)


# (time in ns, kind or None for "within the limits", value)
Reading = tuple[int, str | None, float]
Limits = tuple[float | None, float | None]  # low, high


class Changes(list[ActiveAlarm]):
    """The events a batch opened, moved or ended as this ingester saw them, and (in
    `readings`) the batch's readings of their sensors in time order, with the sensors'
    `limits`: what persist_alarms merges into the database's events."""

    def __init__(self, events: Iterable[ActiveAlarm] = (),
                 readings: dict[tuple[str, str], list[Reading]] | None = None,
                 limits: dict[tuple[str, str], Limits] | None = None) -> None:
        super().__init__(events)
        self.readings = readings or {}
        self.limits = limits or {}


class AlarmTracker:
    """This ingester's view of the alarms: which batches have something to record. What is
    recorded is decided in the database (persist_alarms), against what every ingester saw,
    and the view follows the database's answer (resync)."""

    def __init__(self, registry: Registry) -> None:
        self._limits = _alarm_limits(registry)
        self.active: dict[tuple[str, str], ActiveAlarm] = {}
        # Newest timestamp seen per series: an older (late or redelivered) value must not
        # reopen or close an alarm out of order.
        self._last_ts: dict[tuple[str, str], int] = {}
        # Ended by a registry change, for the next observe() to hand back with its changes.
        self._ended: list[ActiveAlarm] = []
        # observe() runs in the collector, resync() in the writer, once its batch is recorded.
        self._lock = threading.Lock()

    def use(self, registry: Registry) -> None:
        """Watch the limits of this registry from the next observe() on. An ongoing event of
        a series that has no limits any more ends now, as at a start (load_active)."""
        now = utcnow()
        with self._lock:
            self._limits = _alarm_limits(registry)
            for key in [k for k in self.active if k not in self._limits]:
                ev = self.active.pop(key)
                ev.ended_at = max(now, ev.started_at)
                self._ended.append(ev)

    def load_active(self, session: Session) -> None:
        """The ongoing events and each series' newest alarm time, from the database. An
        ongoing event of a series that has no limits any more (taken out of the registry)
        is ended now, in the caller's transaction: no value could ever end it."""
        now = utcnow()
        for ev in session.scalars(select(AlarmEvent).where(AlarmEvent.ended_at.is_(None))):
            key = (ev.installation, ev.sensor)
            if key not in self._limits:
                ev.ended_at = max(now, ev.started_at)
                continue
            self.active[key] = ActiveAlarm.of(ev)
        # The newest start, end or reading beyond per series is the newest time the alarms
        # were decided at: a value the broker redelivers (or a device sends again) after a
        # restart is older and must not open a second event for an alarm recorded already.
        newest = select(AlarmEvent.installation, AlarmEvent.sensor,
                        func.max(AlarmEvent.last_beyond_at), func.max(AlarmEvent.ended_at)
                        ).group_by(AlarmEvent.installation, AlarmEvent.sensor)
        for inst, sensor, beyond, ended in session.execute(newest):
            self._last_ts[inst, sensor] = to_ns(max(t for t in (beyond, ended) if t))

    def resync(self, events: dict[tuple[str, str], list[ActiveAlarm]]) -> None:
        """Take the database's events of each series a batch recorded (in time order, from the
        batch's oldest reading on): another ingester may have opened, moved or ended one
        meanwhile. The one this ingester's next readings may still change is the first that
        goes on past the newest reading it saw, ended or not: a reading before that end
        moves it (one within the limit, earlier), a reading after it is past that event."""
        with self._lock:
            for key, evs in events.items():
                if key not in self._limits:
                    continue
                seen = from_ns(self._last_ts.get(key, 0))
                ev = next((e for e in evs if e.ended_at is None or e.ended_at > seen), None)
                if ev is None:
                    self.active.pop(key, None)
                else:
                    self.active[key] = ev

    def adopt(self, ongoing: Iterable[ActiveAlarm]) -> None:
        """Take the database's ongoing events as this ingester's own: one another ingester
        opened on readings this one did not get is ended by this one's next reading within
        the limit, which otherwise would not be recorded (no alarm changed as it saw it)."""
        with self._lock:
            for ev in ongoing:
                key = (ev.installation, ev.sensor)
                if key in self._limits:
                    self.active[key] = ev

    def observe(self, rows: Iterable[Row], received_at: datetime | None = None) -> Changes:
        """Feed the stored values of one batch (received at `received_at`, default now);
        returns the events that opened, moved or closed, with the readings that did it. A
        reading beyond the limit moves its event even when it is not a new extreme: its
        time is the event's last_beyond_at.

        The batch is taken in time order, not in the order its values came: a gateway may
        send what it buffered newest first, and each value older than one already seen would
        be passed over as late. Values of earlier batches were decided on already.
        A value stamped ahead of its arrival counts as of its arrival: validation lets a device
        clock run up to a day ahead, and taken at its word one such stamp would make every
        correctly stamped value after it "older", unable to open or close an alarm until the
        clock caught up; nor does an alarm start or end in the future."""
        with self._lock:
            return self._observe(rows, received_at)

    def _observe(self, rows: Iterable[Row], received_at: datetime | None) -> Changes:
        limits, last_ts, active = self._limits, self._last_ts, self.active
        horizon = to_ns(received_at or utcnow())
        changed: dict[int, ActiveAlarm] = {id(ev): ev for ev in self._ended}
        # An event ended by a registry change ends as if a reading within the limit came.
        seen: dict[tuple[str, str], list[Reading]] = {
            (ev.installation, ev.sensor): [(to_ns(ev.ended_at or ev.started_at), None, 0.0)]
            for ev in self._ended}
        self._ended = []
        # The times of the readings beyond a limit become datetimes once per event and batch:
        # the newest, and the oldest for an event opened before (it may have opened later).
        newest: dict[int, int] = {}
        oldest: list[tuple[ActiveAlarm, int]] = []
        timed = sorted(((min(ts, horizon), inst, sensor, value) for inst, sensor, ts, value in rows),
                       key=itemgetter(0))
        for ts, inst, sensor, value in timed:
            key = (inst, sensor)
            lim = limits.get(key)
            if lim is None or ts < last_ts.get(key, -1):
                continue
            last_ts[key] = ts
            lo, hi = lim
            kind = "low" if lo is not None and value < lo else (
                "high" if hi is not None and value > hi else None)
            seen.setdefault(key, []).append((ts, kind, value))
            ev = active.get(key)
            if ev is not None and ev.ended_at is not None and ts >= to_ns(ev.ended_at):
                del active[key]  # another ingester saw it end before this reading (resync)
                ev = None
            if ev is not None and ev.kind != kind:
                ev.ended_at = from_ns(ts)
                changed[id(ev)] = ev
                del active[key]
                ev = None
            if kind is None:
                continue
            if ev is None:
                at = from_ns(ts)
                ev = ActiveAlarm(inst, sensor, kind, lo if kind == "low" else hi, at, value, at)
                active[key] = ev
            else:
                if (value > ev.peak_value) if kind == "high" else (value < ev.peak_value):
                    ev.peak_value = value
                if id(ev) not in newest:
                    oldest.append((ev, ts))
            changed[eid := id(ev)] = ev
            newest[eid] = ts
        for ev, ts in oldest:
            ev.started_at = min(ev.started_at, from_ns(ts))
        for ev in changed.values():
            if id(ev) in newest:
                ev.last_beyond_at = max(ev.last_beyond_at, from_ns(newest[id(ev)]))
        keys = {(ev.installation, ev.sensor) for ev in changed.values()}
        return Changes(changed.values(), {key: seen[key] for key in keys},
                       {key: limits[key] for key in keys if key in limits})


def ongoing_events(session: Session) -> list[ActiveAlarm]:
    return [ActiveAlarm.of(ev)
            for ev in session.scalars(select(AlarmEvent).where(AlarmEvent.ended_at.is_(None)))]


def _alarm_limits(registry: Registry) -> dict[tuple[str, str], tuple[float | None, float | None]]:
    """Only sensors with a limit are watched; (low, high) with None for "no limit"."""
    return {
        (inst.key, s.key): (s.alarm_low, s.alarm_high)
        for inst in registry.installations.values()
        for s in inst.sensors.values()
        if s.alarm_low is not None or s.alarm_high is not None
    }


@dataclass(slots=True)
class _Span:
    """An event while readings are merged into it, its times in ns; row: None until new."""

    kind: str
    limit: float
    start: int
    end: int | None
    last_beyond: int
    peak: float
    row: AlarmEvent | None = None

    @classmethod
    def of(cls, row: AlarmEvent) -> _Span:
        return cls(row.kind, row.limit, to_ns(row.started_at),
                   None if row.ended_at is None else to_ns(row.ended_at),
                   to_ns(row.last_beyond_at), row.peak_value, row)

    def extend(self, ts: int, value: float) -> None:
        """A reading beyond the limit, before the end: before the start too when another
        ingester opened the event on a later reading."""
        if (value > self.peak) if self.kind == "high" else (value < self.peak):
            self.peak = value
        self.start = min(self.start, ts)
        self.last_beyond = max(self.last_beyond, ts)

    def write(self, row: AlarmEvent) -> None:
        row.started_at, row.peak_value = from_ns(self.start), self.peak
        row.last_beyond_at = from_ns(self.last_beyond)
        row.ended_at = None if self.end is None else from_ns(self.end)


def persist_alarms(session: Session, changes: Changes) -> dict[tuple[str, str], list[ActiveAlarm]]:
    """Merge the batch's readings into each sensor's events as other ingesters left them;
    returns each sensor's events from its oldest reading on, in time order."""
    readings = changes.readings
    _serialise(session, sorted(readings))
    since = from_ns(min(rs[0][0] for rs in readings.values()))
    spans: dict[tuple[str, str], list[_Span]] = {key: [] for key in readings}
    # An event that ended before the oldest reading cannot take it, nor any after it.
    near = select(AlarmEvent).where(
        or_(*(and_(AlarmEvent.installation == inst, AlarmEvent.sensor == sensor)
              for inst, sensor in readings)),
        or_(AlarmEvent.ended_at.is_(None), AlarmEvent.ended_at > since),
    ).order_by(AlarmEvent.started_at, AlarmEvent.id)
    for row in session.scalars(near):
        spans[row.installation, row.sensor].append(_Span.of(row))
    for key, rs in readings.items():
        limits = changes.limits.get(key, (None, None))
        for reading in rs:
            _merge(spans[key], reading, limits)
    for ss in spans.values():
        for span in ss:
            if span.row is not None:
                span.write(span.row)
    # Ended events first: one ongoing event per sensor (unique index).
    session.flush()
    for (inst, sensor), ss in spans.items():
        for span in ss:
            if span.row is None:
                span.row = AlarmEvent(installation=inst, sensor=sensor, kind=span.kind,
                                      limit=span.limit)
                span.write(span.row)
                session.add(span.row)
    session.flush()
    return {key: [ActiveAlarm.of(span.row) for span in ss if span.row is not None]
            for key, ss in spans.items()}


def _serialise(session: Session, keys: list[tuple[str, str]]) -> None:
    """Until the commit, no other ingester merges into these sensors' events. PostgreSQL: a
    transaction lock per sensor, taken in one order by all (no deadlock). SQLite has one
    writer at a time, but a transaction only becomes the writer at its first write: a write
    that changes nothing makes it so before the events are read."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[]))"
                             " AS k ORDER BY k"), {"keys": sorted(map(_lock_key, keys))})
    else:
        session.execute(text("UPDATE alarm_event SET id = id WHERE 0 = 1"))


def _lock_key(key: tuple[str, str]) -> int:
    digest = hashlib.blake2b("\0".join(("alarm_event", *key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _merge(spans: list[_Span], reading: Reading, limits: Limits) -> None:
    """One reading into the sensor's events (in time order, none overlapping), as a single
    ingester that saw every reading would have decided, as far as the events tell: a
    reading within an event's span and beyond its limit moves it; within the limit, it
    ends it there unless some ingester saw a newer reading beyond (it goes on: ending it
    would silence an alarm that one ingester still sees). A reading beyond, outside every
    event, starts one unless the next event is of its kind: that one started earlier."""
    ts, kind, value = reading
    for span in spans:
        if span.start <= ts and (span.end is None or ts < span.end):
            if kind == span.kind:
                span.extend(ts, value)
                return
            if ts <= span.last_beyond:
                return
            span.end = ts
            break
    if kind is None:
        return
    after = next((span for span in spans if span.start > ts), None)
    if after is not None and after.kind == kind:
        after.extend(ts, value)
        return
    limit = limits[0] if kind == "low" else limits[1]
    assert limit is not None  # the reading is beyond it
    spans.append(_Span(kind, limit, ts, None if after is None else after.start, ts, value))
    spans.sort(key=attrgetter("start"))
