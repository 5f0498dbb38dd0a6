"""Live simulation: SIMULATED sensor messages over MQTT (paho 2.x, QoS 1), paced in time.

Every installation publishes ``rate`` messages per real second on
``recyclab/v1/<installation>/<stream>``, each one reading of all its sensors as JSON
``{"ts": epoch ms, "seq": n, "values": {...}}``. Simulated time runs ``speedup`` times faster
than real time, so consecutive readings are ``speedup / rate`` simulated seconds apart.
When a lot's production window closes the ``on_lot_end`` callback runs (the CLI creates the
lot in the LIMS there and, for sampled lots, enters the simulated lab results).
"""

from __future__ import annotations

import heapq
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from analytics.simulator.physics import Excursion, PilotPlant, SimulatedLot
from ingest.registry import Registry

log = logging.getLogger("recyclab.simulate")


class MqttPublisher:
    """QoS 1 publisher; ``flush`` waits until the broker acknowledged every message."""

    def __init__(self, broker_url: str, client_id: str | None = None, username: str | None = None, password: str | None = None) -> None:
        parts = urlsplit(broker_url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"broker URL must be mqtt://host:port or mqtts://host:port, not {broker_url!r}")
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"recyclab-sim-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv311)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        if username:
            self.client.username_pw_set(username, password or None)
        if parts.scheme == "mqtts":
            self.client.tls_set()
        self._acked = 0
        self._lock = threading.Lock()
        self.published = 0
        self.client.on_publish = self._on_publish
        self.client.connect(parts.hostname, parts.port or (8883 if parts.scheme == "mqtts" else 1883), keepalive=30)
        self.client.loop_start()

    def _on_publish(self, *_args) -> None:
        with self._lock:
            self._acked += 1

    @property
    def acked(self) -> int:
        with self._lock:
            return self._acked

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise ConnectionError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        self.published += 1

    def flush(self, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while self.acked < self.published:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def message(ts_ns: int, seq: int, values: dict[str, float]) -> bytes:
    return json.dumps({"ts": ts_ns // 1_000_000, "seq": seq, "values": values}, separators=(",", ":")).encode()


def lot_messages(lot: SimulatedLot) -> list[tuple[int, dict[str, float]]]:
    """(timestamp ns, {sensor: value}) per reading of the lot, oldest first."""
    keys = list(lot.series)
    columns = [lot.series[k].round(4).tolist() for k in keys]
    return [
        (ts, dict(zip(keys, values, strict=True)))
        for ts, *values in zip(lot.timestamps_ns().tolist(), *columns, strict=True)
    ]


@dataclass
class SimulationStats:
    messages: int = 0
    lots_finished: int = 0
    lots: list[SimulatedLot] = field(default_factory=list)


def run(
    publisher: MqttPublisher,
    registry: Registry,
    *,
    installations: list[str],
    seed: int,
    start: datetime,
    rate: float,
    speedup: float,
    lots: int | None = None,
    duration: float | None = None,
    stream: str = "process",
    on_lot_end: Callable[[SimulatedLot], None] | None = None,
    stop: threading.Event | None = None,
    running_start: bool = False,
    excursion: Excursion | None = None,
) -> SimulationStats:
    """Publish until ``lots`` lots have finished or ``duration`` real seconds have passed
    (with neither, until ``stop`` is set or the process is interrupted)."""
    if rate <= 0 or speedup <= 0:
        raise ValueError("rate and speedup must be positive")
    unknown = [k for k in installations if k not in registry.installations]
    if unknown:
        raise ValueError(f"unknown installation(s): {', '.join(unknown)}")
    plant = PilotPlant(
        {k: registry.installations[k] for k in installations}, seed, start.astimezone(UTC),
        running_start=running_start, excursion=excursion,
    )
    step_s = speedup / rate
    stats = SimulationStats()
    seq = dict.fromkeys(installations, 0)
    # One running lot per installation (lot, its readings, next index); the heap orders the
    # installations by the simulated time of their next reading.
    running: dict[str, tuple[SimulatedLot, list, int]] = {}
    heap: list[tuple[int, str]] = []
    planned = 0

    def begin(inst: str) -> None:
        nonlocal planned
        while lots is None or planned < lots:
            lot = plant.run(plant.plan(inst), step_s)
            planned += 1
            readings = lot_messages(lot)
            if readings:
                running[inst] = (lot, readings, 0)
                heapq.heappush(heap, (readings[0][0], inst))
                return
            end_lot(lot)

    def end_lot(lot: SimulatedLot) -> None:
        stats.lots_finished += 1
        stats.lots.append(lot)
        if on_lot_end is not None:
            on_lot_end(lot)

    for inst in installations:
        begin(inst)
    sim0 = heap[0][0] if heap else 0
    real0 = time.monotonic()
    while heap:
        if stop is not None and stop.is_set():
            break
        if duration is not None and time.monotonic() - real0 >= duration:
            break
        ts, inst = heapq.heappop(heap)
        delay = real0 + (ts - sim0) / 1e9 / speedup - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        lot, readings, i = running[inst]
        seq[inst] += 1
        publisher.publish(f"recyclab/v1/{inst}/{stream}", message(ts, seq[inst], readings[i][1]))
        stats.messages += 1
        if i + 1 < len(readings):
            running[inst] = (lot, readings, i + 1)
            heapq.heappush(heap, (readings[i + 1][0], inst))
        else:
            del running[inst]
            end_lot(lot)
            begin(inst)
    return stats
