"""What people do with process alarms: acknowledge with a comment, shelve for a while, and find
them again (history filter). The ingester opens and closes the events (ingest.alarms); this
module only answers them, and writes every answer to the audit trail.

Shelving hides an ongoing alarm from the active list until the shelf time ends. It is limited
to MAX_SHELVE so a forgotten shelf cannot hide a real problem for days, and it needs a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from lims.audit import service as audit
from lims.kernel.clock import utcnow
from lims.kernel.errors import N_, InputError, NotFound, WorkflowError
from lims.kernel.models import User
from lims.kernel.models.process import AlarmEvent
from lims.permissions import Capability, require

COMMENT_MAX = 500
MIN_SHELVE = timedelta(minutes=1)
MAX_SHELVE = timedelta(hours=24)
# The durations the alarms page offers, in minutes; the API accepts any whole number of
# minutes from MIN_SHELVE to MAX_SHELVE.
SHELVE_CHOICES = (15, 60, 240, 480, 1440)
STATES = ("active", "shelved", "unacknowledged", "past", "all")


def _comment(raw: object) -> str:
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        raise InputError("comment", N_("give a comment: what was seen or done"))
    if len(text) > COMMENT_MAX:
        raise InputError("comment", N_("at most %(n)s characters", n=COMMENT_MAX))
    return text


def _shelve_minutes(raw: object) -> int:
    try:
        minutes = int(str(raw).strip())
    except ValueError:
        raise InputError("minutes", N_("give the shelve time in whole minutes")) from None
    low, high = MIN_SHELVE // timedelta(minutes=1), MAX_SHELVE // timedelta(minutes=1)
    if not low <= minutes <= high:
        raise InputError("minutes", N_("shelve for %(low)s to %(high)s minutes", low=low, high=high))
    return minutes


def _locked(session: Session, alarm_id: int) -> AlarmEvent:
    alarm = session.scalar(select(AlarmEvent).where(AlarmEvent.id == alarm_id).with_for_update())
    if alarm is None:
        raise NotFound(N_("alarm %(id)s not found", id=alarm_id))
    return alarm


def is_shelved(alarm: AlarmEvent, now: datetime) -> bool:
    return alarm.ended_at is None and alarm.shelved_until is not None and alarm.shelved_until > now


def acknowledge(session: Session, user: User, alarm_id: int, comment: object) -> AlarmEvent:
    """An ongoing or past alarm, once: the comment says what was seen or done."""
    require(user, Capability.ANSWER_ALARMS)
    text = _comment(comment)
    alarm = _locked(session, alarm_id)
    if alarm.acknowledged_at is not None:
        raise WorkflowError(
            N_("alarm %(id)s was acknowledged already by %(user)s", id=alarm_id, user=alarm.acknowledged_by)
        )
    before = audit.snapshot(alarm)
    alarm.acknowledged_at, alarm.acknowledged_by, alarm.ack_comment = utcnow(), user.username, text
    audit.record(session, user, "alarm.acknowledge", "alarm_event", alarm.id, before, audit.snapshot(alarm))
    return alarm


def shelve(
    session: Session, user: User, alarm_id: int, minutes: object, comment: object
) -> AlarmEvent:
    """Keep an ongoing alarm out of the active list for `minutes` (again: the new time counts)."""
    require(user, Capability.ANSWER_ALARMS)
    # Both fields are checked before either error is reported: the form shows them together.
    errors: dict[str, list[str]] = {}
    valid: dict[str, Any] = {}
    for field, check, raw in (("minutes", _shelve_minutes, minutes), ("comment", _comment, comment)):
        try:
            valid[field] = check(raw)
        except InputError as exc:
            errors.update(exc.errors)
    if errors:
        raise InputError(errors)
    alarm = _locked(session, alarm_id)
    if alarm.ended_at is not None:
        raise WorkflowError(N_("alarm %(id)s has ended: only an ongoing alarm can be shelved", id=alarm_id))
    before = audit.snapshot(alarm)
    alarm.shelved_until = utcnow() + timedelta(minutes=valid["minutes"])
    alarm.shelved_by, alarm.shelve_comment = user.username, valid["comment"]
    audit.record(session, user, "alarm.shelve", "alarm_event", alarm.id, before, audit.snapshot(alarm))
    return alarm


@dataclass(frozen=True)
class AlarmFilter:
    installation: str | None = None
    sensor: str | None = None
    kind: str | None = None
    state: str = "all"
    since: datetime | None = None  # started at or after
    until: datetime | None = None  # started before

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise InputError("state", N_("one of %(choices)s", choices=", ".join(STATES)))
        if self.since and self.until and self.until <= self.since:
            raise InputError("until", N_("the end must be after the start"))


def query(f: AlarmFilter, now: datetime | None = None) -> Select[tuple[AlarmEvent]]:
    """Alarm events matching the filter, newest first. active = ongoing and not shelved."""
    now = now or utcnow()
    stmt = select(AlarmEvent)
    for name in ("installation", "sensor", "kind"):
        value = getattr(f, name)
        if value:
            stmt = stmt.where(getattr(AlarmEvent, name) == value)
    ongoing = AlarmEvent.ended_at.is_(None)
    shelved = and_(ongoing, AlarmEvent.shelved_until.is_not(None), AlarmEvent.shelved_until > now)
    if f.state == "active":
        stmt = stmt.where(
            ongoing, or_(AlarmEvent.shelved_until.is_(None), AlarmEvent.shelved_until <= now)
        )
    elif f.state == "shelved":
        stmt = stmt.where(shelved)
    elif f.state == "unacknowledged":
        stmt = stmt.where(AlarmEvent.acknowledged_at.is_(None))
    elif f.state == "past":
        stmt = stmt.where(AlarmEvent.ended_at.is_not(None))
    if f.since:
        stmt = stmt.where(AlarmEvent.started_at >= f.since)
    if f.until:
        stmt = stmt.where(AlarmEvent.started_at < f.until)
    return stmt.order_by(AlarmEvent.started_at.desc(), AlarmEvent.id.desc())


def active(
    session: Session, installation: str | None = None, sensor: str | None = None
) -> list[AlarmEvent]:
    """The alarms to show as active (shelved ones left out), oldest first."""
    stmt = query(AlarmFilter(installation=installation, sensor=sensor, state="active"))
    return list(session.scalars(stmt.order_by(None).order_by(AlarmEvent.started_at)))
