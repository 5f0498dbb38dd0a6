"""The fast offline path: N SIMULATED lots straight into a time-series store, plus a manifest.

For training sets of thousands of lots without MQTT or the web app: each lot's process data
(coarse, 1 point per minute per sensor by default) is written to the store in batches, and
the manifest (one JSON line per lot) holds the lot metadata and, for sampled lots, the lab
values per method and the grade the LIMS grading gives them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from analytics.features import LotWindow
from analytics.lims_link import LabCatalogue
from analytics.simulator.physics import PilotPlant, SimulatedLot
from ingest.registry import Registry
from ingest.store.base import Row, TimeSeriesStore

WRITE_BATCH = 100_000


@dataclass(frozen=True)
class LotRecord:
    window: LotWindow
    source: str
    lab: dict[str, float] = field(default_factory=dict)  # method key -> reported value
    grade: str | None = None  # LIMS grade of the lab values; None when not sampled

    def to_json(self) -> str:
        d = asdict(self)
        d["window"]["start"] = self.window.start.isoformat()
        d["window"]["end"] = self.window.end.isoformat()
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> LotRecord:
        d = json.loads(line)
        w = d["window"]
        w["start"], w["end"] = datetime.fromisoformat(w["start"]), datetime.fromisoformat(w["end"])
        return cls(window=LotWindow(**w), source=d["source"], lab=d["lab"], grade=d["grade"])


def window_of(lot: SimulatedLot) -> LotWindow:
    p = lot.plan
    return LotWindow(p.lot_key, p.installation, p.material, p.input_stream, p.recycled_content, p.start, p.end)


def lot_rows(lot: SimulatedLot) -> list[Row]:
    ts = lot.timestamps_ns().tolist()
    inst = lot.plan.installation
    rows: list[Row] = []
    for sensor, values in lot.series.items():
        rows.extend(zip([inst] * len(ts), [sensor] * len(ts), ts, values.tolist(), strict=True))
    return rows


def record_for(lot: SimulatedLot, catalogue: LabCatalogue, rng: np.random.Generator, sampled: bool) -> LotRecord:
    if not sampled:
        return LotRecord(window_of(lot), lot.plan.source)
    lab = catalogue.lab_values(lot.plan.material, lot.properties, rng)
    return LotRecord(window_of(lot), lot.plan.source, lab, catalogue.grade(lot.plan.material, lab))


def generate(
    store: TimeSeriesStore,
    registry: Registry,
    catalogue: LabCatalogue,
    count: int,
    seed: int,
    start: datetime,
    sampled_fraction: float = 1.0,
    step_s: float = 60.0,
    progress=None,
    end: datetime | None = None,
) -> Iterator[LotRecord]:
    """Simulate ``count`` lots into ``store``; yields each lot's record once it is stored.
    Lots that would end after ``end`` are left out: history written up to now must not
    hold values stamped in the future, where a live simulator's values would hide behind
    them."""
    plant = PilotPlant(registry.installations, seed, start)
    lab_rng = np.random.default_rng([seed, 1])
    pending: list[Row] = []
    held: list[LotRecord] = []
    for lot in plant.lots(count, step_s):
        if progress is not None:
            progress.update(1)  # a lot left out is done with too: the bar reaches its end
        if end is not None and lot.plan.end > end:
            continue
        pending.extend(lot_rows(lot))
        held.append(record_for(lot, catalogue, lab_rng, lab_rng.random() < sampled_fraction))
        if len(pending) >= WRITE_BATCH:
            store.write_rows(pending)
            pending.clear()
            yield from held
            held.clear()
    store.write_rows(pending)
    yield from held


def save_manifest(records: Iterable[LotRecord], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(r.to_json() + "\n")
            n += 1
    return n


def load_manifest(path: Path) -> list[LotRecord]:
    with open(path, encoding="utf-8") as fh:
        return [LotRecord.from_json(line) for line in fh if line.strip()]
