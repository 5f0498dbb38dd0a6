"""What the ingester writes to the LIMS database: rejects and alarm events, one transaction.

A reject describes bad input, so its text is whatever a device sent: it is made storable
(PostgreSQL text holds no NUL character and no lone surrogate, which JSON's "\\ud800"
decodes to) before it is written. A row the database still refuses must not hold up the
stream: the caller gets it back to put in its dead-letter file. Only a database that cannot
be reached (LimsUnavailable) makes the caller retry.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from ingest.alarms import ActiveAlarm, AlarmTracker, Changes, ongoing_events, persist_alarms
from ingest.registry import Registry
from ingest.validate import Reject
from lims.kernel.models.process import IngestReject

log = logging.getLogger("recyclab.ingest")

# U+2400 SYMBOL FOR NULL: the excerpt still shows where the NUL bytes were.
NUL_SHOWN_AS = "\u2400"


class LimsUnavailable(RuntimeError):
    """The LIMS database cannot be reached now; the same write may succeed later."""


@dataclass(frozen=True)
class Refused:
    """A record the database refused (not for want of a connection), and why."""

    kind: str  # "reject" or "alarms"
    record: dict[str, object]
    error: str


def storable(text: str | None, n: int) -> str | None:
    if text is None:
        return None
    text = text[:n]
    if "\x00" in text:
        text = text.replace("\x00", NUL_SHOWN_AS)
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def is_unavailable(exc: SQLAlchemyError) -> bool:
    """Connection-level trouble (server down, network, locked or full SQLite file, pool
    exhausted): retrying the same write later can succeed. Anything else is about the data."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout | DisconnectionError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def reject_row(r: Reject) -> dict[str, object]:
    return {
        "received_at": r.received_at,
        "topic": storable(r.topic, 300),
        "installation": storable(r.installation, 80),
        "sensor": storable(r.sensor, 120),
        "reason": r.reason,  # a code of ours, not input
        "detail": storable(r.detail, 400),
        "excerpt": storable(r.excerpt, 400),
        "message_key": r.key,
    }


class LimsRecorder:
    def __init__(self, sessions: sessionmaker[Session], tracker: AlarmTracker) -> None:
        self.sessions = sessions
        self.tracker = tracker
        with sessions.begin() as session:
            tracker.load_active(session)

    def sync_registry(self, registry: Registry) -> bool:
        """Bring the LIMS's installations and sensors (what the dashboard shows, the limits the
        charts draw) in line with the registry this ingester has reloaded. Members of a shared
        group reload together and may insert the same new sensor at once: the one refused tries
        again and finds it there."""
        # Imported here, on a reload only: the seeding module pulls in the account services,
        # which the ingester's start does without.
        from lims.seed import sync_installations

        error: SQLAlchemyError | None = None
        for _attempt in range(2):
            try:
                with self.sessions.begin() as session:
                    sync_installations(session, registry)
                return True
            except SQLAlchemyError as exc:
                error = exc
        log.error("event=registry_sync_failed error=%s action=web_shows_previous_sensors",
                  error.__class__.__name__)
        return False

    def refresh_alarms(self) -> None:
        """Let the tracker adopt the ongoing events (AlarmTracker.adopt). Raises
        LimsUnavailable when the database cannot be reached."""
        try:
            with self.sessions.begin() as session:
                ongoing = ongoing_events(session)
        except SQLAlchemyError as exc:
            raise LimsUnavailable(str(exc.__class__.__name__)) from exc
        self.tracker.adopt(ongoing)

    def record(self, rejects: Sequence[Reject], alarms: Changes) -> list[Refused]:
        """Write everything in one transaction; when the database refuses it, write each
        record alone and return the ones it still refuses. Raises LimsUnavailable when the
        database cannot be reached (the caller retries: records written alone before that
        may then be written twice, which only a second fault in one batch can cause)."""
        if not rejects and not alarms:
            return []
        rows = [reject_row(r) for r in rejects]
        try:
            self._write(rows, alarms)
            return []
        except SQLAlchemyError as exc:
            if is_unavailable(exc):
                raise LimsUnavailable(str(exc.__class__.__name__)) from exc
            log.warning("event=lims_refused_batch error=%s action=write_one_by_one",
                        exc.__class__.__name__)
        refused = []
        if alarms:
            failed = self._write_alone([], alarms)
            if failed:
                refused.append(Refused("alarms", {"alarms": [repr(a) for a in alarms]}, failed))
        for row in rows:
            failed = self._write_alone([row], Changes())
            if failed:
                refused.append(Refused("reject", row, failed))
        return refused

    def _write_alone(self, rows: list[dict], alarms: Changes) -> str | None:
        try:
            self._write(rows, alarms)
        except SQLAlchemyError as exc:
            if is_unavailable(exc):
                raise LimsUnavailable(str(exc.__class__.__name__)) from exc
            return str(exc)[:2000]
        return None

    def _write(self, rows: list[dict], alarms: Changes) -> None:
        events: dict[tuple[str, str], list[ActiveAlarm]] = {}
        with self.sessions.begin() as session:
            if rows:
                session.execute(_insert_new_rejects(session), rows)
            if alarms.readings:
                events = persist_alarms(session, alarms)
        self.tracker.resync(events)


def _insert_new_rejects(session: Session):
    """INSERT that passes over a reject recorded already (same message_key): the batch was
    recorded, then the ingester died before acknowledging it, and the broker sent it again."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(IngestReject).on_conflict_do_nothing(index_elements=["message_key"])
