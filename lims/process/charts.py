"""Charts of store.aggregate() buckets: a mean line over a min..max band.

Pure functions (no Flask). The installation page draws series() in the browser (uPlot, with
hover values and zoom); the lot page draws chart() as SVG on the server. Either way the store
downsamples: a range is cut into about CHART_BUCKETS buckets, so the browser never gets more
points than that per sensor, whatever the range or the data rate.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ingest.store import Bucket

# Ranges offered on the installation page; every one is drawn with about CHART_BUCKETS buckets.
RANGES = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
CHART_BUCKETS = 240
MAX_SPAN = timedelta(days=366)


def bucket_width(start: datetime, end: datetime, buckets: int = CHART_BUCKETS) -> timedelta:
    """The aggregation interval that gives about `buckets` buckets, at least one second."""
    return max(timedelta(seconds=1), (end - start) / buckets)


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    mean_path: str
    band_path: str
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    limits: list[Tick] = field(default_factory=list)
    window: tuple[float, float] | None = None
    points: int = 0

    @property
    def empty(self) -> bool:
        return self.points == 0


def _nice_step(span: float, target: int = 5) -> float:
    raw = span / target
    magnitude = 10 ** int(f"{raw:e}".split("e")[1])
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def chart(
    buckets: Sequence[Bucket],
    start: datetime,
    end: datetime,
    every: timedelta,
    format_time: Callable[[datetime], str],
    limits: Sequence[float | None] = (),
    window: tuple[datetime, datetime] | None = None,
    width: int = 640,
    height: int = 170,
    format_value: Callable[[float], str] = lambda v: f"{v:g}",
) -> Chart:
    left, right, top, bottom = 46, 8, 8, 20
    plot_w, plot_h = width - left - right, height - top - bottom
    shown_limits = [v for v in limits if v is not None]
    values = [b.min for b in buckets] + [b.max for b in buckets]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    # Show an alarm limit only when it is near the data, or the line flattens to nothing.
    near = [v for v in shown_limits if lo - (hi - lo + 1) <= v <= hi + (hi - lo + 1)]
    lo, hi = min([lo, *near]), max([hi, *near])
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    pad = (hi - lo) * 0.05
    lo, hi = lo - pad, hi + pad
    span_s = (end - start).total_seconds()

    def x(ts: datetime) -> float:
        return left + plot_w * min(1.0, max(0.0, (ts - start).total_seconds() / span_s))

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - lo) / (hi - lo))

    half = every / 2
    # A gap much wider than the usual spacing of the data is a gap in the data: lift the pen.
    # (Sparse data in narrow buckets is not a gap: it leaves every other bucket empty.)
    spacings = sorted(b.start - a.start for a, b in zip(buckets, buckets[1:], strict=False))
    gap = max(every * 2, spacings[len(spacings) // 2] * 3) if spacings else every * 2
    mean_parts: list[str] = []
    upper: list[str] = []
    lower: list[str] = []
    previous: datetime | None = None
    for b in buckets:
        cx = x(b.start + half)
        command = "M" if previous is None or b.start - previous > gap else "L"
        mean_parts.append(f"{command}{cx:.1f},{y(b.mean):.1f}")
        upper.append(f"{cx:.1f},{y(b.max):.1f}")
        lower.append(f"{cx:.1f},{y(b.min):.1f}")
        previous = b.start
    band = f"M{' L'.join(upper)} L{' L'.join(reversed(lower))} Z" if upper else ""

    step = _nice_step(hi - lo)
    first = step * -(-lo // step)
    y_ticks = []
    # An empty chart gets no value axis: a made-up 0..1 scale would read like data.
    for i in range(int((hi - first) // step) + 1 if buckets else 0):
        value = round(first + i * step, 12) + 0.0  # + 0.0 turns -0.0 into 0.0
        y_ticks.append(Tick(y(value), format_value(value)))
    x_ticks = [
        Tick(left + plot_w * i / 4, format_time(start + (end - start) * i / 4)) for i in range(5)
    ]
    return Chart(
        width=width,
        height=height,
        mean_path=" ".join(mean_parts),
        band_path=band,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        limits=[Tick(y(v), format_value(v)) for v in near],
        window=(x(window[0]), x(window[1])) if window else None,
        points=len(buckets),
    )


def series(buckets: Sequence[Bucket], every: timedelta) -> dict[str, list[float]]:
    """Columns for the browser: bucket middles (epoch seconds) and mean/min/max."""
    half = every / 2
    return {
        "t": [(b.start + half).timestamp() for b in buckets],
        "mean": [b.mean for b in buckets],
        "min": [b.min for b in buckets],
        "max": [b.max for b in buckets],
    }


def csv_text(buckets: Sequence[Bucket], every: timedelta, dutch_excel: bool = False) -> str:
    """The aggregated series as CSV, one row per bucket, times in UTC (ISO 8601). Values in
    the shortest digits that read back as the stored float: min and max are readings, and an
    export must not round them. dutch_excel: semicolons and decimal commas, as Excel set to
    Dutch reads a CSV (with commas it puts each row in one column)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", delimiter=";" if dutch_excel else ",")

    def num(value: float) -> str:
        return repr(value).replace(".", ",") if dutch_excel else repr(value)

    writer.writerow(["bucket_start_utc", "bucket_seconds", "mean", "min", "max", "count"])
    seconds = num(every.total_seconds())
    for b in buckets:
        writer.writerow([b.start.isoformat(), seconds, num(b.mean), num(b.min), num(b.max), b.count])
    return out.getvalue()
