"""The ingester's heartbeat: its status, one row per ingester in the LIMS database.

Every status interval the ingester rewrites its row (host, pid, start, counters, state), so
the web processes (dashboard, /metrics, /api/v1/ingest/status) see every ingester side by side
without sharing a file system with any of them. A database that does not answer costs a
logged warning, never the ingester.

Each beat also tells (on_peers) whether another ingester is running now: an InfluxDB store
may skip reading before it writes only while no other ingester can write the same series.
Other writers of process data (`recyclab simulate --offline`) beat too while they write
(registered_writer), so that no ingester takes itself for the sole writer meanwhile.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import delete, func
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ingest.status import IngestStatus
from lims.kernel.clock import utcnow
from lims.kernel.models.process import IngesterHeartbeat
from lims.process.ingesters import SILENT_AFTER, database_now, ingesters

log = logging.getLogger(__name__)

# The row keeps the whole IngestStatus snapshot as its counters, but for what the row has as
# columns of its own. Rates are computed here, over the heartbeat's own interval, because the
# status file's writer takes snapshots too and each snapshot restarts IngestStatus's window.
ROW_COLUMNS = ("pid", "started_at", "updated_at")


class Heartbeat(threading.Thread):
    def __init__(
        self, status: IngestStatus, sessions: sessionmaker[Session], ingester: str,
        interval_s: float = 1.0, on_peers: Callable[[bool], None] | None = None,
        writer_only: bool = False,
    ) -> None:
        """on_peers(alone) after each beat: alone is False while another ingester (or other
        writer) runs, and when the database did not answer (it cannot tell). writer_only:
        a writer of process data that is no ingester; the web does not show it as one."""
        super().__init__(name="ingest-heartbeat", daemon=True)
        self.status, self.sessions, self.ingester = status, sessions, ingester
        self.interval_s = interval_s
        self.on_peers = on_peers
        self.writer_only = writer_only
        self.host, self.pid = socket.gethostname(), os.getpid()
        self._halt = threading.Event()
        self._prev: tuple[float, int, int] | None = None

    def run(self) -> None:
        self.beat("running")
        while not self._halt.wait(self.interval_s):
            self.beat("running")

    def stop(self) -> None:
        self._halt.set()
        self.join(5)
        self.beat("stopped")

    def counters(self) -> dict[str, object]:
        snap = self.status.snapshot()
        counters = {k: v for k, v in snap.items() if k not in ROW_COLUMNS}
        now = time.monotonic()
        messages = int(snap["messages_total"])
        values = int(snap["values_stored_total"]) + int(snap["values_spooled_total"])
        if self._prev is not None:
            t0, m0, v0 = self._prev
            dt = max(now - t0, 1e-6)
            counters["messages_per_s"] = round((messages - m0) / dt, 1)
            counters["values_per_s"] = round((values - v0) / dt, 1)
        else:
            counters["messages_per_s"] = counters["values_per_s"] = 0.0
        self._prev = (now, messages, values)
        if self.writer_only:
            counters["writer_only"] = True
        return counters

    def beat(self, state: str) -> None:
        values = {
            "host": self.host[:255], "pid": self.pid, "started_at": self.status.started_at,
            "heartbeat_at": utcnow(), "db_beat_at": func.now(), "interval_s": self.interval_s, "state": state,
            "counters": self.counters(),
        }
        alone = False
        try:
            with self.sessions.begin() as session:
                row = session.get(IngesterHeartbeat, self.ingester)
                if row is None:
                    session.add(IngesterHeartbeat(ingester=self.ingester, **values))
                else:
                    for name, value in values.items():
                        setattr(row, name, value)
                session.flush()
                alone = not any(s.up for s in ingesters(session, writers=True)
                                if s.ingester != self.ingester)
        except SQLAlchemyError as exc:
            log.warning("event=heartbeat_failed ingester=%s error=%s", self.ingester, exc)
        if self.on_peers is not None and state == "running":
            self.on_peers(alone)


@contextmanager
def registered_writer(
    sessions: sessionmaker[Session], name: str, interval_s: float = 1.0,
) -> Iterator[None]:
    """Beat as a running writer named `name` while writing to the store outside an
    ingester. Waits until every running ingester has beaten since (and so no longer writes
    without reading first); the row goes when the writer is done, as it is no ingester."""
    heartbeat = Heartbeat(IngestStatus(), sessions, name, interval_s, writer_only=True)
    heartbeat.beat("running")
    registered = _database_now(sessions)
    heartbeat.start()
    try:
        deadline = time.monotonic() + SILENT_AFTER.total_seconds()
        while time.monotonic() < deadline and not _seen_by_every_ingester(sessions, name, registered):
            time.sleep(0.05)
        yield
    finally:
        heartbeat.stop()
        try:
            with sessions.begin() as session:
                session.execute(delete(IngesterHeartbeat).where(IngesterHeartbeat.ingester == name))
        except SQLAlchemyError as exc:
            log.warning("event=heartbeat_remove_failed writer=%s error=%s", name, exc)


def _database_now(sessions: sessionmaker[Session]) -> datetime | None:
    try:
        with sessions() as session:
            return database_now(session)
    except SQLAlchemyError:
        return None


def _seen_by_every_ingester(sessions: sessionmaker[Session], name: str, since: datetime | None) -> bool:
    """Every running ingester has beaten since `since`, by the database's clock (the ingesters'
    own clocks may be off from this writer's)."""
    if since is None:
        return False
    try:
        with sessions() as session:
            return all(s.db_beat_at > since for s in ingesters(session)
                       if s.up and s.ingester != name)
    except SQLAlchemyError:
        return False
