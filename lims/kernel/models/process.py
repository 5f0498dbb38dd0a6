"""Process-data records kept in the LIMS database: ingest rejects, alarm events and each
ingester's heartbeat.

Installation and sensor are stored as registry keys (strings), not foreign keys: the ingester
writes them at full rate and must not depend on reference tables being seeded first.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from lims.kernel.db import Base


class IngestReject(Base):
    """A part of an MQTT message that was not stored, and why."""

    __tablename__ = "ingest_reject"
    __table_args__ = (
        Index("ix_ingest_reject_installation_reason", "installation", "reason"),
        Index("ix_ingest_reject_received_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime]
    topic: Mapped[str] = mapped_column(String(300))
    installation: Mapped[str | None] = mapped_column(String(80))
    sensor: Mapped[str | None] = mapped_column(String(120))
    # a code from ingest.validate.REASONS
    reason: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(String(400))
    excerpt: Mapped[str] = mapped_column(String(400))
    # Which message (topic, payload, MQTT packet id) and which part of it: a batch the broker
    # redelivers after a crash between recording and acknowledging yields the same keys, and
    # is not recorded twice (ingest.validate.keyed).
    message_key: Mapped[str | None] = mapped_column(String(32), unique=True)


ONE_OPEN = text("ended_at IS NULL")


class AlarmEvent(Base):
    """A sensor beyond an alarm limit from started_at until ended_at (NULL while active).

    Every ingester of a shared subscription sees part of a sensor's readings; the events are
    decided here, not in each of them (ingest.alarms.merge_into_events)."""

    __tablename__ = "alarm_event"
    __table_args__ = (
        Index("ix_alarm_event_installation_sensor", "installation", "sensor"),
        Index("ix_alarm_event_started_at", "started_at"),
        # one ongoing event per sensor, whichever ingester opened it
        Index("uq_alarm_event_one_open", "installation", "sensor", unique=True,
              postgresql_where=ONE_OPEN, sqlite_where=ONE_OPEN),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    installation: Mapped[str] = mapped_column(String(80))
    sensor: Mapped[str] = mapped_column(String(120))
    # low | high
    kind: Mapped[str] = mapped_column(String(4))
    limit: Mapped[float] = mapped_column(Float)
    started_at: Mapped[datetime]
    # the most extreme value while active (highest for high, lowest for low)
    peak_value: Mapped[float] = mapped_column(Float)
    ended_at: Mapped[datetime | None]
    # The newest reading beyond the limit any ingester recorded: a reading back within the
    # limit ends the event only if it is newer (another ingester may still see it beyond).
    last_beyond_at: Mapped[datetime] = mapped_column(
        default=lambda ctx: ctx.get_current_parameters()["started_at"])
    # An operator's answer (lims.process.alarms): acknowledged with a comment, and/or shelved,
    # i.e. kept out of the active alarms until shelved_until.
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(80))
    ack_comment: Mapped[str | None] = mapped_column(String(500))
    shelved_until: Mapped[datetime | None]
    shelved_by: Mapped[str | None] = mapped_column(String(80))
    shelve_comment: Mapped[str | None] = mapped_column(String(500))


class IngesterHeartbeat(Base):
    """One row per ingester (its MQTT client id), rewritten every status interval: every web
    process sees every ingester through the database, wherever each runs."""

    __tablename__ = "ingester_heartbeat"

    ingester: Mapped[str] = mapped_column(String(120), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    started_at: Mapped[datetime]
    # By the ingester's clock, as it tells it.
    heartbeat_at: Mapped[datetime]
    # By the database's clock: whether the ingester still beats is judged by this one clock,
    # not by the clocks of the ingester's and the web's hosts, which may differ.
    db_beat_at: Mapped[datetime] = mapped_column(server_default=func.now())
    interval_s: Mapped[float] = mapped_column(Float)
    # "running" while it beats; "stopped" after a clean shutdown.
    state: Mapped[str] = mapped_column(String(20))
    counters: Mapped[dict] = mapped_column(JSON)
