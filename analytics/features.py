"""Process-window features of a lot: the one code path for training and for prediction.

Per sensor of the lot's installation, from the store's aggregates over the production
window: mean, std, min, max, slope (weighted least squares over the bucket means, per hour)
and the fraction of time outside the alarm limits (at bucket resolution: a bucket counts as
outside when its mean is beyond a limit). Plus the screen pressure drop (before minus after
the screen changer) where an installation has both pressures: its rise is the clogging
signal. Plus lot metadata: installation, material, input stream, recycled content.

Features are named ``<installation>:<sensor>:<stat>`` so one model serves all installations;
another installation's features are missing (NaN), which the gradient boosting handles
natively and the linear baseline imputes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from ingest.registry import Installation, Registry
from ingest.store.base import Bucket, TimeSeriesStore

BUCKET = timedelta(minutes=5)
STATS = ("mean", "std", "min", "max", "slope", "out_of_alarm")
CATEGORICAL = ("installation", "material", "input_stream")
NUMERIC_METADATA = ("recycled_content", "window_hours")
# (in, out) sensor pairs whose difference is a physical quantity of its own.
DIFFERENCES = {"screen_dp": ("melt_pressure_in_bar", "melt_pressure_out_bar")}


@dataclass(frozen=True)
class LotWindow:
    """What the features need to know about a lot (from the LIMS or a simulated manifest)."""

    lot_key: str
    installation: str
    material: str
    input_stream: str
    recycled_content: float
    start: datetime
    end: datetime


def numeric_feature_names(registry: Registry) -> list[str]:
    names = list(NUMERIC_METADATA)
    for key, inst in sorted(registry.installations.items()):
        for sensor in sorted(inst.sensors):
            names.extend(f"{key}:{sensor}:{stat}" for stat in STATS)
        for name, (a, b) in DIFFERENCES.items():
            if a in inst.sensors and b in inst.sensors:
                names.extend(f"{key}:{name}:{stat}" for stat in ("mean", "max", "slope"))
    return names


def feature_names(registry: Registry) -> list[str]:
    return list(CATEGORICAL) + numeric_feature_names(registry)


def _combine(buckets: list[Bucket]) -> tuple[float, float, float, float]:
    """Exact mean, sample std, min and max of the window from its buckets."""
    n = np.array([b.count for b in buckets], dtype=float)
    means = np.array([b.mean for b in buckets])
    stds = np.array([b.std for b in buckets])
    total = n.sum()
    mean = float((n * means).sum() / total)
    ss = float(((n - 1) * stds**2).sum() + (n * (means - mean) ** 2).sum())
    std = math.sqrt(ss / (total - 1)) if total > 1 else 0.0
    return mean, std, min(b.min for b in buckets), max(b.max for b in buckets)


def _slope(hours: np.ndarray, values: np.ndarray, weights: np.ndarray) -> float:
    if len(hours) < 2:
        return 0.0
    w = weights / weights.sum()
    hm = float((w * hours).sum())
    var = float((w * (hours - hm) ** 2).sum())
    if var == 0:
        return 0.0
    return float((w * (hours - hm) * (values - float((w * values).sum()))).sum() / var)


def sensor_features(buckets: list[Bucket], start: datetime, alarm_low: float | None, alarm_high: float | None) -> dict[str, float]:
    if not buckets:
        return {}
    mean, std, lo, hi = _combine(buckets)
    hours = np.array([(b.start - start).total_seconds() / 3600 + BUCKET.total_seconds() / 7200 for b in buckets])
    means = np.array([b.mean for b in buckets])
    counts = np.array([b.count for b in buckets], dtype=float)
    outside = np.zeros(len(buckets), dtype=bool)
    if alarm_low is not None:
        outside |= means < alarm_low
    if alarm_high is not None:
        outside |= means > alarm_high
    return {
        "mean": mean,
        "std": std,
        "min": lo,
        "max": hi,
        "slope": _slope(hours, means, counts),
        "out_of_alarm": float((counts * outside).sum() / counts.sum()),
    }


def _difference(a: list[Bucket], b: list[Bucket], start: datetime) -> dict[str, float]:
    bm = {x.start: x for x in b}
    pairs = [(x, bm[x.start]) for x in a if x.start in bm]
    if not pairs:
        return {}
    hours = np.array([(x.start - start).total_seconds() / 3600 for x, _ in pairs])
    diff = np.array([x.mean - y.mean for x, y in pairs])
    counts = np.array([min(x.count, y.count) for x, y in pairs], dtype=float)
    return {"mean": float((diff * counts).sum() / counts.sum()), "max": float(diff.max()), "slope": _slope(hours, diff, counts)}


def lot_features(store: TimeSeriesStore, installation: Installation, lot: LotWindow) -> dict[str, float | str]:
    """The feature row of one lot, read from the store (one aggregate query per sensor)."""
    row: dict[str, float | str] = {
        "installation": lot.installation,
        "material": lot.material,
        "input_stream": lot.input_stream,
        "recycled_content": float(lot.recycled_content),
        "window_hours": (lot.end - lot.start).total_seconds() / 3600,
    }
    buckets = {
        key: store.aggregate(lot.installation, key, lot.start, lot.end, BUCKET)
        for key in sorted(installation.sensors)
    }
    for key, sensor in installation.sensors.items():
        for stat, value in sensor_features(buckets[key], lot.start, sensor.alarm_low, sensor.alarm_high).items():
            row[f"{lot.installation}:{key}:{stat}"] = value
    for name, (a, b) in DIFFERENCES.items():
        if a in buckets and b in buckets:
            for stat, value in _difference(buckets[a], buckets[b], lot.start).items():
                row[f"{lot.installation}:{name}:{stat}"] = value
    return row


def sensor_count(row: dict[str, float | str]) -> int:
    """How many sensors had data in the window (0 = no process data for the lot)."""
    return sum(1 for k in row if k.endswith(":mean") and k.split(":")[1] not in DIFFERENCES)


def feature_rows(store: TimeSeriesStore, registry: Registry, lots: Iterable[LotWindow], progress=None) -> list[dict[str, float | str]]:
    rows = []
    for lot in lots:
        rows.append(lot_features(store, registry.installations[lot.installation], lot))
        if progress is not None:
            progress.update(1)
    return rows
