"""Validation of decoded readings against the installation registry.

Good values become store rows; each bad part becomes a Reject with a reason code. One bad
value never costs the good values of the same message.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from ingest.decoders.base import Decoded, DecodeError, Reading, excerpt
from ingest.registry import Registry
from ingest.store.base import Row, from_ns, to_ns

# The plausibility window of a reading's timestamp. A device clock that was never set, or a
# counter sent as a time, gives values no chart or lot window will ever find (and InfluxDB
# refuses the extremes), so they are rejects rather than stored data.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_FUTURE_S = 86_400.0

REASONS: dict[str, str] = {
    "malformed": "malformed payload",
    "bad_timestamp": "missing or invalid timestamp",
    "unknown_installation": "installation not in the registry",
    "unknown_sensor": "sensor not in the registry for this installation",
    "non_numeric": "value is not a number",
    "non_finite": "value is NaN or infinite",
    "out_of_range": "value outside the sensor's physical range",
    "unknown_alias": "Sparkplug alias not announced by a BIRTH",
    "unmapped_device": "Sparkplug device that no installation's sparkplug_device names",
    "unmapped_node": "Sparkplug edge node named like an installation whose sparkplug_node is another",
    "timestamp_out_of_range": "timestamp before the earliest or too far in the future",
    "store_rejected": "the time-series store refused the value",
    "conflicting_value": "another value is stored for this sensor and time already",
}


@dataclass(frozen=True, slots=True)
class Reject:
    topic: str
    installation: str | None
    sensor: str | None
    reason: str  # key of REASONS
    detail: str
    excerpt: str
    received_at: datetime
    key: str | None = None  # what it was found in; the LIMS records a key once (keyed())


def keyed(rejects: list[Reject], *source: str | bytes) -> list[Reject]:
    """The rejects, each keyed by its source (a message's topic, payload and packet id, or a
    stored row) and its reason and place among them: the same source yields the same keys
    when the broker sends it again."""
    digest = hashlib.blake2b(digest_size=16)
    for part in source:
        digest.update(part if isinstance(part, bytes) else part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    base = digest.digest()
    return [
        replace(r, key=hashlib.blake2b(base + f"{i}\0{r.reason}".encode(), digest_size=16)
                .hexdigest())
        for i, r in enumerate(rejects)
    ]


class Validator:
    def __init__(
        self, registry: Registry, earliest: datetime = EARLIEST,
        max_future_s: float = MAX_FUTURE_S,
    ) -> None:
        self._earliest_ns = to_ns(earliest)
        self._max_future_ns = int(max_future_s * 1e9)
        self.use(registry)

    def use(self, registry: Registry) -> None:
        """Check against this registry from the next check() on."""
        self.registry = registry
        # Flattened to plain dicts and tuples: this runs for every value at full ingest rate.
        # Per sensor: (min, max, has alarm limits). Bounds are clamped to finite floats, so
        # `min <= value <= max` alone also turns away NaN and the infinities.
        self._ranges: dict[str, dict[str, tuple[float, float, bool]]] = {
            key: {
                s.key: (max(s.min, -sys.float_info.max), min(s.max, sys.float_info.max),
                        s.alarm_low is not None or s.alarm_high is not None)
                for s in inst.sensors.values()
            }
            for key, inst in registry.installations.items()
        }

    def check(
        self, topic: str, decoded: Decoded, received_at: datetime
    ) -> tuple[list[Row], list[Reject], list[Row]]:
        """Store rows, rejects, and the rows of sensors with alarm limits (for the alarm
        tracker, which needs no others)."""
        rows: list[Row] = []
        watched: list[Row] = []
        rejects = [decode_reject(topic, e, received_at) for e in decoded.errors]
        ranges = self._ranges
        first_ns, last_ns = self._earliest_ns, to_ns(received_at) + self._max_future_ns
        last_inst, sensors = None, {}
        for reading in decoded.readings:
            inst, sensor, ts, value = reading
            if inst is not last_inst:
                last_inst, sensors = inst, ranges.get(inst, {})
            limits = sensors.get(sensor)
            # The common case in one test: a known sensor sent a float within its range at a
            # plausible time.
            if (limits is None or type(value) is not float or not limits[0] <= value <= limits[1]
                    or not first_ns <= ts <= last_ns):
                reading = self._check_other(topic, reading, limits, received_at, rejects,
                                            (first_ns, last_ns))
                if reading is None:
                    continue
            rows.append(reading)
            if limits[2]:
                watched.append(reading)
        return rows, rejects, watched

    def _check_other(
        self, topic: str, reading: Reading, limits: tuple[float, float, bool] | None,
        received_at: datetime, rejects: list[Reject], window: tuple[int, int],
    ) -> Reading | None:
        """The reading to store (an int as a float), or None with its reject recorded."""
        inst, sensor, ts, value = reading
        if limits is None:
            if inst not in self._ranges:
                reason, detail = "unknown_installation", f"installation {inst!r} is not registered"
            else:
                reason, detail = "unknown_sensor", f"{inst} has no sensor {sensor!r}"
            rejects.append(self._reject(topic, inst, sensor, value, reason, detail, received_at))
            return None
        if not window[0] <= ts <= window[1]:
            rejects.append(self._reject(
                topic, inst, sensor, value, "timestamp_out_of_range",
                f"{_show_ns(ts)} outside [{_show_ns(window[0])}, {_show_ns(window[1])}]",
                received_at))
            return None
        kind = type(value)
        if kind is int:  # bool is an int subclass, but not this type: non_numeric below
            try:
                value = float(value)
            except OverflowError:
                rejects.append(self._reject(topic, inst, sensor, value, "out_of_range",
                                            "beyond the range of a float", received_at))
                return None
        elif kind is not float:
            rejects.append(self._reject(topic, inst, sensor, value, "non_numeric",
                                        f"{kind.__name__} is not a number", received_at))
            return None
        lo, hi, _ = limits
        if lo <= value <= hi:
            return (inst, sensor, ts, value)
        if value - value != 0.0:  # inf - inf and nan - nan are nan
            rejects.append(self._reject(topic, inst, sensor, value, "non_finite",
                                        "NaN or infinite", received_at))
        else:
            rejects.append(self._reject(topic, inst, sensor, value, "out_of_range",
                                        f"{value!r} outside [{lo:g}, {hi:g}]", received_at))
        return None

    @staticmethod
    def _reject(
        topic: str, inst: str, sensor: str, value: object, reason: str, detail: str,
        received_at: datetime,
    ) -> Reject:
        return Reject(topic, inst, sensor, reason, detail, excerpt(f"{sensor}={value!r}"),
                      received_at)


def _show_ns(ns: int) -> str:
    try:
        return from_ns(ns).isoformat()
    except OverflowError:  # beyond datetime's year 9999
        return f"{ns} ns"


def decode_reject(topic: str, error: DecodeError, received_at: datetime) -> Reject:
    return Reject(topic, error.installation, error.sensor, error.reason, error.detail,
                  error.excerpt, received_at)


def count_by_reason(rejects: Iterable[Reject]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rejects:
        counts[r.reason] = counts.get(r.reason, 0) + 1
    return counts
