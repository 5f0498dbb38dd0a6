"""The installation registry: which installations exist and what their sensors accept.

The data is config/installations.toml; the LIMS seeds the same file into its database.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
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
    # The Sparkplug B device whose metrics are this installation's: "<group>/<edge node>/<device>".
    sparkplug_device: str = ""
    # The Sparkplug B edge node whose own metrics are this installation's: "<group>/<edge node>".
    sparkplug_node: str = ""


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

    @cached_property
    def sparkplug_devices(self) -> dict[tuple[str, str, str], str]:
        """(group, edge node, device) -> installation key."""
        devices = {}
        for key, inst in self.installations.items():
            if inst.sparkplug_device:
                group, edge, device = inst.sparkplug_device.split("/")
                devices[group, edge, device] = key
        return devices

    @cached_property
    def sparkplug_nodes(self) -> dict[tuple[str, str], str]:
        """(group, edge node) -> installation key, for the installations that name their node."""
        nodes = {}
        for key, inst in self.installations.items():
            if inst.sparkplug_node:
                group, edge = inst.sparkplug_node.split("/")
                nodes[group, edge] = key
        return nodes


def _sparkplug_address(path: Path, entry: dict, field: str, form: str, taken: dict[str, str]) -> str:
    """An installation's Sparkplug address in `field` ("" when it has none), of the form given,
    and no other installation's: it is noted in `taken`."""
    address = entry.get(field, "")
    if not address:
        return ""
    parts = address.split("/") if isinstance(address, str) else []
    if len(parts) != form.count("/") + 1 or not all(parts) or any(c in address for c in "+#"):
        raise RegistryError(f"{path}: installation {entry['key']}: {field} must be {form}, not {address!r}")
    if address in taken:
        raise RegistryError(f"{path}: installations {taken[address]} and {entry['key']}"
                            f" name the same {field} {address!r}")
    taken[address] = entry["key"]
    return address


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
        devices: dict[str, str] = {}  # sparkplug_device -> installation key
        nodes: dict[str, str] = {}  # sparkplug_node -> installation key
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
            device = _sparkplug_address(path, e, "sparkplug_device", "<group>/<edge node>/<device>", devices)
            node = _sparkplug_address(path, e, "sparkplug_node", "<group>/<edge node>", nodes)
            installations[e["key"]] = Installation(
                e["key"], e["line"], e["kind"], e["name"], sensors, e.get("name_nl", ""), device, node
            )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, RegistryError):
            raise
        raise RegistryError(f"{path}: malformed entry: {exc!r}") from exc
    return Registry(lines, installations)
