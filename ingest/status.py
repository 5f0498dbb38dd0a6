"""Ingester counters, written atomically to var/ingest-status.json every second.

It is for the ingester's host (container healthcheck, bench); the web app reads the same
counters from each ingester's heartbeat in the LIMS database (ingest/heartbeat.py). Several
ingesters on one host each need their own file (`recyclab ingest --status-file`).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from lims.kernel.clock import utcnow

log = logging.getLogger("recyclab.ingest")

STATUS_FILE = "ingest-status.json"


class IngestStatus:
    """Counters updated by the worker threads; snapshot() is taken by the status writer."""

    def __init__(self) -> None:
        self.started_at = utcnow()
        self.messages = 0
        self.values_stored = 0
        self.values_spooled = 0
        self.rejects: dict[str, int] = {}
        self.last_message: dict[str, str] = {}  # installation -> ISO time of arrival
        self.latencies_ms: deque[float] = deque(maxlen=20_000)  # device ts -> stored
        self.store_available = True
        self.lims_available = True
        self.disk_full = False  # the spool's disk has no room: no acks, the socket is not read
        self.dead_letters = 0
        self.last_store_write_at: float | None = None  # epoch seconds
        self.last_ack_at: float | None = None
        self.broker_connected = False
        self.queue_depth = 0
        self.queue_age_s = 0.0
        self.sparkplug_seq_gaps = 0
        self.reading_paused = False  # the incoming queue is full: the socket is not read
        self.spool: dict[str, object] = {}
        self._prev = (time.monotonic(), 0, 0)

    def add_rejects(self, counts: dict[str, int]) -> None:
        for reason, n in counts.items():
            self.rejects[reason] = self.rejects.get(reason, 0) + n

    def snapshot(self) -> dict[str, object]:
        now = time.monotonic()
        t0, m0, v0 = self._prev
        dt = max(now - t0, 1e-6)
        messages, values = self.messages, self.values_stored + self.values_spooled
        self._prev = (now, messages, values)
        lat = sorted(self.latencies_ms)
        wall = time.time()
        return {
            "pid": os.getpid(),
            "started_at": self.started_at.isoformat(),
            "updated_at": utcnow().isoformat(),
            "broker_connected": self.broker_connected,
            "store_available": self.store_available,
            "lims_available": self.lims_available,
            "disk_full": self.disk_full,
            "last_store_write_age_s": _age(self.last_store_write_at, wall),
            "last_ack_age_s": _age(self.last_ack_at, wall),
            "messages_total": messages,
            "values_stored_total": self.values_stored,
            "values_spooled_total": self.values_spooled,
            "messages_per_s": round((messages - m0) / dt, 1),
            "values_per_s": round((values - v0) / dt, 1),
            "rejects_total": sum(self.rejects.values()),
            "rejects_by_reason": dict(self.rejects),
            "dead_letters_total": self.dead_letters,
            "queue_depth": self.queue_depth,
            "lag_s": round(self.queue_age_s, 3),
            "latency_ms": {
                "p50": _pct(lat, 0.50),
                "p99": _pct(lat, 0.99),
                "samples": len(lat),
            },
            "spool": dict(self.spool),
            "sparkplug_seq_gaps": self.sparkplug_seq_gaps,
            "reading_paused": self.reading_paused,
            "last_message": dict(self.last_message),
        }


def _age(at: float | None, now: float) -> float | None:
    return None if at is None else round(max(0.0, now - at), 3)


def _pct(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return round(sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))], 2)


def write_atomically(path: Path, data: dict[str, object]) -> None:
    """Replace the file whole (readers never see half of it). On a full disk there is no
    room for the new copy, but the old file's blocks can take the new text: a status saying
    disk_full is worth the small chance of a reader catching it half-written."""
    body = json.dumps(data, indent=1).encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(body)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or not path.exists():
            raise
        with open(path, "r+b") as f:
            f.write(body)
            f.truncate()


def read_status(path: Path) -> dict[str, object] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class StatusWriter(threading.Thread):
    """Rewrites the status file every interval, after `refresh` has brought the status up to
    date. A file that cannot be written (full disk, read-only directory) is logged, naming
    it, and tried again next interval: the ingester goes on either way."""

    def __init__(self, status: IngestStatus, path: Path, interval_s: float = 1.0,
                 refresh: Callable[[], None] | None = None) -> None:
        super().__init__(name="ingest-status", daemon=True)
        self.status, self.path, self.interval_s = status, path, interval_s
        self.refresh = refresh
        self.failing = False
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.interval_s):
            self.write()

    def write(self) -> bool:
        if self.refresh is not None:
            self.refresh()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, self.status.snapshot())
        except OSError as exc:
            if not self.failing:
                log.error("event=status_file_unwritable path=%s error=%s", self.path, exc)
            self.failing = True
            return False
        if self.failing:
            log.info("event=status_file_writable path=%s", self.path)
        self.failing = False
        return True

    def stop(self) -> None:
        self._halt.set()
        self.join(5)
        self.write()
