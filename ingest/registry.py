"""The installation registry: which installations exist and what their sensors accept.

The data is config/installations.toml; the LIMS seeds the same file into its database.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from lims.kernel.settings import config_dir


class RegistryError(ValueError):
    pass


@dataclass(frozen=True)
class Sensor:
    key: str
    name: str
    unit: str
    min: float
    max: float
    alarm_low: float | None = None
    alarm_high: float | None = None
    name_nl: str = ""

    def in_range(self, value: float) -> bool:
        return math.isfinite(value) and self.min <= value <= self.max

    def alarm_state(self, value: float) -> str | None:
        """'low' or 'high' when the value is beyond an alarm limit, else None."""
        if self.alarm_low is not None and value < self.alarm_low:
            return "low"
        if self.alarm_high is not None and value > self.alarm_high:
            return "high"
        return None


@dataclass(frozen=True)
class Installation:
    key: str
    line: str
    kind: str
    name: str
    sensors: dict[str, Sensor] = field(default_factory=dict)
    name_nl: str = ""


@dataclass(frozen=True)
class ProgrammeLine:
    key: str
    name: str
    sample_prefix: str
    name_nl: str = ""


@dataclass(frozen=True)
class Registry:
    lines: dict[str, ProgrammeLine]
    installations: dict[str, Installation]

    def sensor(self, installation: str, sensor: str) -> Sensor | None:
        inst = self.installations.get(installation)
        return inst.sensors.get(sensor) if inst else None


def load_registry(path: Path | None = None) -> Registry:
    path = path or config_dir() / "installations.toml"
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RegistryError(f"{path}: {exc}") from exc
    try:
        lines = {
            e["key"]: ProgrammeLine(e["key"], e["name"], e["sample_prefix"], e.get("name_nl", ""))
            for e in data.get("line", [])
        }
        installations = {}
        for e in data.get("installation", []):
            if e["line"] not in lines:
                raise RegistryError(f"{path}: installation {e['key']}: unknown line {e['line']!r}")
            sensors = {}
            for s in e.get("sensor", []):
                lo, hi = s["range"]
                sensors[s["key"]] = Sensor(
                    key=s["key"], name=s["name"], unit=s["unit"], min=float(lo), max=float(hi),
                    alarm_low=s.get("alarm_low"), alarm_high=s.get("alarm_high"),
                    name_nl=s.get("name_nl", ""),
                )
            installations[e["key"]] = Installation(
                e["key"], e["line"], e["kind"], e["name"], sensors, e.get("name_nl", "")
            )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, RegistryError):
            raise
        raise RegistryError(f"{path}: malformed entry: {exc!r}") from exc
    return Registry(lines, installations)
