"""The ingesters as the web sees them: their heartbeat rows in the LIMS database (written by
ingest/heartbeat.py), one per ingester, whichever host or container each runs on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, type_coerce
from sqlalchemy.orm import Session

from lims.kernel.db import UTCDateTime
from lims.kernel.models.process import IngesterHeartbeat

# A running ingester beats every interval (1 s by default); missing this long means it is gone.
SILENT_AFTER = timedelta(seconds=10)


@dataclass(frozen=True)
class IngesterState:
    ingester: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime  # by the ingester's clock
    db_beat_at: datetime  # by the database's; age_s too
    age_s: float
    # "running", "stopped" (shut down cleanly) or "silent" (no heartbeat for SILENT_AFTER)
    state: str
    counters: dict

    @property
    def up(self) -> bool:
        return self.state == "running"


def database_now(session: Session) -> datetime:
    """The database server's time: the one clock every ingester's beat and every web process's
    look at it are measured by, whichever hosts they run on."""
    return session.execute(select(type_coerce(func.now(), UTCDateTime()))).scalar_one()


def ingesters(session: Session, writers: bool = False) -> list[IngesterState]:
    """writers: also the writers of process data that are no ingester (`recyclab simulate
    --offline`), which beat only so that no ingester takes itself for a sole writer."""
    now = database_now(session)
    rows = session.scalars(select(IngesterHeartbeat).order_by(IngesterHeartbeat.ingester))
    result = []
    for row in rows:
        if not writers and row.counters.get("writer_only"):
            continue
        age = max(timedelta(0), now - row.db_beat_at)
        silent_after = max(SILENT_AFTER, timedelta(seconds=3 * row.interval_s))
        state = row.state if row.state != "running" or age <= silent_after else "silent"
        result.append(IngesterState(
            row.ingester, row.host, row.pid, row.started_at, row.heartbeat_at, row.db_beat_at,
            round(age.total_seconds(), 3), state, dict(row.counters),
        ))
    return result


def prometheus_text(states: list[IngesterState]) -> str:
    """Prometheus exposition format, one series per ingester (label `ingester`)."""
    if not states:
        return "# no ingester has reported a heartbeat\n"
    metrics: dict[str, tuple[str, list[str]]] = {}

    def metric(name: str, kind: str, labels: str, value: float | int | None) -> None:
        metrics.setdefault(name, (kind, []))[1].append(f"{name}{{{labels}}} {float(value or 0)}")

    for s in states:
        c = s.counters
        who = f'ingester="{_label(s.ingester)}",host="{_label(s.host)}"'
        metric("recyclab_ingest_up", "gauge", who, int(s.up))
        metric("recyclab_ingest_heartbeat_age_seconds", "gauge", who, s.age_s)
        metric("recyclab_ingest_messages_total", "counter", who, c.get("messages_total"))
        metric("recyclab_ingest_values_stored_total", "counter", who, c.get("values_stored_total"))
        metric("recyclab_ingest_values_spooled_total", "counter", who, c.get("values_spooled_total"))
        metric("recyclab_ingest_dead_letters_total", "counter", who, c.get("dead_letters_total"))
        for reason, n in sorted(dict(c.get("rejects_by_reason") or {}).items()):
            metric("recyclab_ingest_rejects_total", "counter", f'{who},reason="{_label(reason)}"', n)
        # The spool is on disk: what a stopped ingester left there still waits for the store.
        spool = c.get("spool") or {}
        metric("recyclab_ingest_spool_values", "gauge", who, spool.get("values"))
        metric("recyclab_ingest_spool_bytes", "gauge", who, spool.get("bytes"))
        metric("recyclab_ingest_spool_oldest_age_seconds", "gauge", who, spool.get("oldest_age_s"))
        if not s.up:
            # Its connections, rates and lag are what they were at its last heartbeat, not now:
            # left out, Prometheus marks them stale instead of showing a dead ingester connected.
            continue
        metric("recyclab_ingest_messages_per_second", "gauge", who, c.get("messages_per_s"))
        metric("recyclab_ingest_values_per_second", "gauge", who, c.get("values_per_s"))
        metric("recyclab_ingest_broker_connected", "gauge", who, int(bool(c.get("broker_connected"))))
        metric("recyclab_ingest_store_available", "gauge", who, int(bool(c.get("store_available"))))
        metric("recyclab_ingest_lims_available", "gauge", who, int(bool(c.get("lims_available", 1))))
        metric("recyclab_ingest_disk_full", "gauge", who, int(bool(c.get("disk_full"))))
        if c.get("last_store_write_age_s") is not None:
            metric("recyclab_ingest_last_store_write_age_seconds", "gauge", who,
                   c["last_store_write_age_s"])
        metric("recyclab_ingest_queue_depth", "gauge", who, c.get("queue_depth"))
        metric("recyclab_ingest_reading_paused", "gauge", who, int(bool(c.get("reading_paused"))))
        metric("recyclab_ingest_lag_seconds", "gauge", who, c.get("lag_s"))
    lines = []
    for name, (kind, samples) in metrics.items():
        lines += [f"# TYPE {name} {kind}", *samples]
    return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
