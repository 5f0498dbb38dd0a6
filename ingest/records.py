"""What the ingester writes to the LIMS database: rejects and alarm events, one transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from ingest.alarms import ActiveAlarm, AlarmTracker, persist_alarms
from ingest.validate import Reject
from lims.kernel.models.process import IngestReject


def _clip(text: str | None, n: int) -> str | None:
    return None if text is None else text[:n]


class LimsRecorder:
    def __init__(self, sessions: sessionmaker[Session], tracker: AlarmTracker) -> None:
        self.sessions = sessions
        self.tracker = tracker
        with sessions() as session:
            tracker.load_active(session)

    def record(self, rejects: Sequence[Reject], alarms: Sequence[ActiveAlarm]) -> None:
        """Raises SQLAlchemyError when the database is unreachable (the caller retries)."""
        if not rejects and not alarms:
            return
        new: list = []
        with self.sessions.begin() as session:
            if rejects:
                session.execute(
                    insert(IngestReject),
                    [
                        {
                            "received_at": r.received_at,
                            "topic": r.topic[:300],
                            "installation": _clip(r.installation, 80),
                            "sensor": _clip(r.sensor, 120),
                            "reason": r.reason,
                            "detail": r.detail[:400],
                            "excerpt": r.excerpt[:400],
                        }
                        for r in rejects
                    ],
                )
            if alarms:
                new = persist_alarms(session, alarms)
        for ev, row in new:
            ev.id = row.id
