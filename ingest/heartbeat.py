"""The ingester's heartbeat: its status, one row per ingester in the LIMS database.

Every status interval the ingester rewrites its row (host, pid, start, counters, state), so
the web processes (dashboard, /metrics, /api/v1/ingest/status) see every ingester side by side
without sharing a file system with any of them. A database that does not answer costs a
logged warning, never the ingester.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ingest.status import IngestStatus
from lims.kernel.clock import utcnow
from lims.kernel.models.process import IngesterHeartbeat

log = logging.getLogger(__name__)

# The row keeps the whole IngestStatus snapshot as its counters, but for what the row has as
# columns of its own. Rates are computed here, over the heartbeat's own interval, because the
# status file's writer takes snapshots too and each snapshot restarts IngestStatus's window.
ROW_COLUMNS = ("pid", "started_at", "updated_at")


class Heartbeat(threading.Thread):
    def __init__(
        self, status: IngestStatus, sessions: sessionmaker[Session], ingester: str,
        interval_s: float = 1.0,
    ) -> None:
        super().__init__(name="ingest-heartbeat", daemon=True)
        self.status, self.sessions, self.ingester = status, sessions, ingester
        self.interval_s = interval_s
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
        return counters

    def beat(self, state: str) -> None:
        values = {
            "host": self.host[:255], "pid": self.pid, "started_at": self.status.started_at,
            "heartbeat_at": utcnow(), "interval_s": self.interval_s, "state": state,
            "counters": self.counters(),
        }
        try:
            with self.sessions.begin() as session:
                row = session.get(IngesterHeartbeat, self.ingester)
                if row is None:
                    session.add(IngesterHeartbeat(ingester=self.ingester, **values))
                else:
                    for name, value in values.items():
                        setattr(row, name, value)
        except SQLAlchemyError as exc:
            log.warning("event=heartbeat_failed ingester=%s error=%s", self.ingester, exc)
