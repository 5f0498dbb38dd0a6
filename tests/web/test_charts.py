"""The server-side charts: every drawn point stays inside the picture, gaps in the data lift
the pen, sparse but regular data does not."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from ingest.store import Bucket
from lims.process.charts import bucket_width, chart, csv_text

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def buckets(starts_min: list[int], values: list[float]) -> list[Bucket]:
    return [
        Bucket(T0 + timedelta(minutes=m), v, v - 1, v + 1, 0.5, 3)
        for m, v in zip(starts_min, values, strict=True)
    ]


@given(
    st.lists(
        st.tuples(st.integers(0, 239), st.floats(-1e6, 1e6, allow_nan=False)),
        min_size=1,
        max_size=60,
        unique_by=lambda t: t[0],
    ),
    st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)),
)
def test_every_point_is_inside_the_picture(points, limit):
    points.sort()
    drawn = chart(
        buckets([m for m, _ in points], [v for _, v in points]),
        T0, T0 + timedelta(hours=4), timedelta(minutes=1), lambda ts: ts.strftime("%H:%M"), (limit,),
    )
    coords = [float(n) for n in NUMBER.findall(drawn.mean_path + " " + drawn.band_path)]
    xs, ys = coords[0::2], coords[1::2]
    assert all(0 <= x <= drawn.width for x in xs)
    assert all(0 <= y <= drawn.height for y in ys)
    assert all(0 <= t.pos <= drawn.height for t in drawn.y_ticks + drawn.limits)
    assert drawn.points == len(points)


def test_a_gap_lifts_the_pen_but_regular_sparse_data_does_not():
    every = bucket_width(T0, T0 + timedelta(hours=1), 240)  # 15 s buckets
    # one point a minute fills every fourth bucket: one continuous line
    regular = chart(buckets(list(range(60)), [1.0] * 60), T0, T0 + timedelta(hours=1), every, str)
    assert regular.mean_path.count("M") == 1
    # twenty minutes without data in the middle: two lines
    gapped = chart(
        buckets(list(range(20)) + list(range(40, 60)), [1.0] * 40), T0, T0 + timedelta(hours=1), every, str
    )
    assert gapped.mean_path.count("M") == 2


def test_an_empty_range_has_no_made_up_scale():
    empty = chart([], T0, T0 + timedelta(hours=1), timedelta(seconds=15), str)
    assert empty.empty and not empty.y_ticks and not empty.mean_path


@given(st.integers(min_value=1, max_value=10**9))
def test_the_csv_bucket_width_reads_back_as_the_width_used(microseconds):
    """A custom range gives a bucket of e.g. 131760.25 s; the CSV wrote 131760 (six digits)."""
    every = timedelta(microseconds=microseconds)
    text = csv_text(buckets([0], [1.0]), every)
    assert float(text.splitlines()[1].split(",")[1]) == every.total_seconds()
