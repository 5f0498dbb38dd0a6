"""What every decoder returns: readings (values not yet validated) and per-part errors."""

from __future__ import annotations

from dataclasses import dataclass, field

# (installation, sensor, ts_ns, value as sent): validation decides whether the value is usable.
Reading = tuple[str, str, int, object]

# Nanosecond timestamps must fit InfluxDB's signed 64-bit range; earlier than the epoch is a
# device clock that was never set, not a measurement.
MAX_TS_NS = 2**63 - 1
EXCERPT_CHARS = 200


@dataclass(frozen=True, slots=True)
class DecodeError:
    reason: str  # a code from ingest.validate.REASONS
    detail: str
    excerpt: str  # the offending part of the payload
    installation: str | None = None
    sensor: str | None = None


@dataclass(slots=True)
class Decoded:
    readings: list[Reading] = field(default_factory=list)
    errors: list[DecodeError] = field(default_factory=list)

    def error(
        self,
        reason: str,
        detail: str,
        part: bytes | str,
        installation: str | None = None,
        sensor: str | None = None,
    ) -> None:
        self.errors.append(DecodeError(reason, detail, excerpt(part), installation, sensor))


def excerpt(part: bytes | str | object) -> str:
    if isinstance(part, bytes | bytearray | memoryview):
        text = bytes(part[: EXCERPT_CHARS * 4]).decode("utf-8", errors="replace")
    else:
        text = str(part)
    return text[:EXCERPT_CHARS]


def ts_ok(ts_ns: int) -> bool:
    return 0 <= ts_ns <= MAX_TS_NS
