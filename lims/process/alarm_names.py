"""How the pages name an alarm: an alarm event keeps its installation and sensor by key (the
ingester writes what the MQTT topic said), the pages show them by name as the dashboard does,
in the reader's language."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from lims.kernel.models import Installation, Sensor
from lims.kernel.models.process import AlarmEvent
from lims.web.i18n import local_name

KINDS = {"high": _l("high"), "low": _l("low")}


@dataclass(frozen=True)
class AlarmNames:
    installations: dict[str, Installation]
    sensors: dict[tuple[str, str], Sensor]

    @classmethod
    def of(cls, installations: Iterable[Installation]) -> AlarmNames:
        """From installations with their sensors loaded."""
        rows = list(installations)
        return cls(
            {inst.key: inst for inst in rows},
            {(inst.key, sensor.key): sensor for inst in rows for sensor in inst.sensors},
        )

    # A key no longer in the configuration stands for itself: the history keeps its alarms.
    def installation(self, key: str) -> str:
        row = self.installations.get(key)
        return local_name(row) if row else key

    def sensor(self, alarm: AlarmEvent) -> str:
        row = self.sensors.get((alarm.installation, alarm.sensor))
        return local_name(row) if row else alarm.sensor

    def where(self, alarm: AlarmEvent) -> str:
        """The sensor with its installation, for a message about one alarm."""
        return f"{self.sensor(alarm)} – {self.installation(alarm.installation)}"

    @staticmethod
    def kind(alarm: AlarmEvent) -> str:
        return str(KINDS.get(alarm.kind, alarm.kind))

    def sensor_choices(self) -> dict[str, str]:
        """Sensor key -> name for the history filter, by name (a key several installations
        share, such as the melt temperature, is one choice)."""
        names = {key: local_name(sensor) for (_inst, key), sensor in self.sensors.items()}
        return dict(sorted(names.items(), key=lambda item: item[1].casefold()))
