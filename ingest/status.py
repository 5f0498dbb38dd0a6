"""Ingester counters, written atomically to var/ingest-status.json every second.

It is for the ingester's host (container healthcheck, bench); the web app reads the same
counters from each ingester's heartbeat in the LIMS database (ingest/heartbeat.py). Several
ingesters on one host each need their own file (`recyclab ingest --status-file`).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path

STATUS_FILE = "ingest-status.json"


class IngestStatus:
    """Counters updated by the worker thread; snapshot() is read by the writer thread."""

    def __init__(self) -> None:
        self.started_at = datetime.now(UTC)
        self.messages = 0
        self.values_stored = 0
        self.values_spooled = 0
        self.rejects: dict[str, int] = {}
        self.last_message: dict[str, str] = {}  # installation -> ISO time of arrival
        self.latencies_ms: deque[float] = deque(maxlen=20_000)  # device ts -> stored
        self.store_available = True
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
        return {
            "pid": os.getpid(),
            "started_at": self.started_at.isoformat(),
            "updated_at": datetime.now(UTC).isoformat(),
            "broker_connected": self.broker_connected,
            "store_available": self.store_available,
            "messages_total": messages,
            "values_stored_total": self.values_stored,
            "values_spooled_total": self.values_spooled,
            "messages_per_s": round((messages - m0) / dt, 1),
            "values_per_s": round((values - v0) / dt, 1),
            "rejects_total": sum(self.rejects.values()),
            "rejects_by_reason": dict(self.rejects),
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


def _pct(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return round(sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))], 2)


def write_atomically(path: Path, data: dict[str, object]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def read_status(path: Path) -> dict[str, object] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class StatusWriter(threading.Thread):
    def __init__(self, status: IngestStatus, path: Path, interval_s: float = 1.0) -> None:
        super().__init__(name="ingest-status", daemon=True)
        self.status, self.path, self.interval_s = status, path, interval_s
        self._halt = threading.Event()

    def run(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while not self._halt.wait(self.interval_s):
            self.write()

    def write(self) -> None:
        write_atomically(self.path, self.status.snapshot())

    def stop(self) -> None:
        self._halt.set()
        self.join(5)
        self.write()
