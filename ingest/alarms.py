"""Alarm events: a stored value beyond a sensor's alarm limit opens an event, the event follows
the peak, and the first value back within limits closes it.

The tracker keeps the active events in memory (loaded from the database at start) and hands
back what changed; ingest.records persists that in the same transaction as the rejects.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter

from sqlalchemy import func, select
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
    ended_at: datetime | None = None
    id: int | None = None  # database id once persisted


class AlarmTracker:
    def __init__(self, registry: Registry) -> None:
        # Only sensors with a limit are watched; (low, high) with None for "no limit".
        self._limits: dict[tuple[str, str], tuple[float | None, float | None]] = {
            (inst.key, s.key): (s.alarm_low, s.alarm_high)
            for inst in registry.installations.values()
            for s in inst.sensors.values()
            if s.alarm_low is not None or s.alarm_high is not None
        }
        self.active: dict[tuple[str, str], ActiveAlarm] = {}
        # Newest timestamp seen per series: an older (late or redelivered) value must not
        # reopen or close an alarm out of order.
        self._last_ts: dict[tuple[str, str], int] = {}

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
            self.active[key] = ActiveAlarm(ev.installation, ev.sensor, ev.kind, ev.limit,
                                           ev.started_at, ev.peak_value, None, ev.id)
        # The newest start or end per series is the newest time the alarms were decided at:
        # a value the broker redelivers (or a device sends again) after a restart is older
        # and must not open a second event for an alarm that was recorded already.
        newest = select(AlarmEvent.installation, AlarmEvent.sensor,
                        func.max(AlarmEvent.started_at), func.max(AlarmEvent.ended_at)
                        ).group_by(AlarmEvent.installation, AlarmEvent.sensor)
        for inst, sensor, started, ended in session.execute(newest):
            self._last_ts[inst, sensor] = to_ns(max(t for t in (started, ended) if t))

    def observe(self, rows: Iterable[Row], received_at: datetime | None = None) -> list[ActiveAlarm]:
        """Feed the stored values of one batch (received at `received_at`, default now);
        returns the events that opened, moved or closed.

        The batch is taken in time order, not in the order its values came: a gateway may
        send what it buffered newest first, and each value older than one already seen would
        be passed over as late. Values of earlier batches were decided on already.
        A value stamped ahead of its arrival counts as of its arrival: validation lets a device
        clock run up to a day ahead, and taken at its word one such stamp would make every
        correctly stamped value after it "older", unable to open or close an alarm until the
        clock caught up; nor does an alarm start or end in the future."""
        limits, last_ts, active = self._limits, self._last_ts, self.active
        horizon = to_ns(received_at or utcnow())
        changed: dict[int, ActiveAlarm] = {}
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
            ev = active.get(key)
            if ev is not None and ev.kind != kind:
                ev.ended_at = from_ns(ts)
                changed[id(ev)] = ev
                del active[key]
                ev = None
            if kind is None:
                continue
            if ev is None:
                ev = ActiveAlarm(inst, sensor, kind, lo if kind == "low" else hi, from_ns(ts),
                                 value)
                active[key] = ev
                changed[id(ev)] = ev
            elif (value > ev.peak_value) if kind == "high" else (value < ev.peak_value):
                ev.peak_value = value
                changed[id(ev)] = ev
        return list(changed.values())


def persist_alarms(
    session: Session, changed: Iterable[ActiveAlarm]
) -> list[tuple[ActiveAlarm, AlarmEvent]]:
    """Insert new events and update moved/closed ones. Returns the new (event, row) pairs:
    the caller copies row ids onto the events once the transaction has committed."""
    new = []
    for ev in changed:
        if ev.id is None:
            row = AlarmEvent(installation=ev.installation, sensor=ev.sensor, kind=ev.kind,
                             limit=ev.limit, started_at=ev.started_at, peak_value=ev.peak_value,
                             ended_at=ev.ended_at)
            session.add(row)
            new.append((ev, row))
        else:
            row = session.get(AlarmEvent, ev.id)
            if row is not None:
                row.peak_value, row.ended_at = ev.peak_value, ev.ended_at
    session.flush()
    return new
