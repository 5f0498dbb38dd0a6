"""Process-window features read the same from both stores and mean what their names say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.features import (
    BUCKET,
    LotWindow,
    _combine,
    feature_names,
    lot_features,
    sensor_count,
)
from ingest.registry import load_registry
from ingest.store.base import Bucket, Point

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
HOURS = 2


@pytest.fixture(params=["sqlite", "influxdb"])
def store(request, tmp_path):
    if request.param == "sqlite":
        from ingest.store.sqlite_store import SQLiteStore

        s = SQLiteStore(tmp_path / "ts.db")
    else:
        from ingest.store.influx_store import InfluxStore

        influx = request.getfixturevalue("influxdb")
        s = InfluxStore(influx.url, influx.token, influx.org, influx.bucket, influx.query_url)
    yield s
    s.close()


def test_window_features_of_a_known_lot(store):
    """A screen clogging at 12 bar/h, a melt temperature above its alarm for the last quarter
    of the window, and data outside the window that must not count."""
    inst = load_registry().installations["ntk-ext1"]
    minutes = np.arange(0, HOURS * 60)
    hours = minutes / 60
    temp = np.where(minutes >= 90, 275.0, 230.0) + np.sin(minutes)  # alarm_high 270
    p_in = 150 + 12 * hours
    points = []
    for m, t, pin in zip(minutes.tolist(), temp.tolist(), p_in.tolist(), strict=True):
        ts = START + timedelta(minutes=m)
        points += [Point("ntk-ext1", "melt_temp_c", ts, t), Point("ntk-ext1", "melt_pressure_in_bar", ts, pin),
                   Point("ntk-ext1", "melt_pressure_out_bar", ts, 100.0)]
    # Neighbouring lots' data: before and after the window.
    points += [Point("ntk-ext1", "melt_temp_c", START - timedelta(minutes=1), 999.0),
               Point("ntk-ext1", "melt_temp_c", START + timedelta(hours=HOURS), 999.0)]
    store.write(points)
    lot = LotWindow("L1", "ntk-ext1", "pp", "post-consumer", 95.0, START, START + timedelta(hours=HOURS))

    row = lot_features(store, inst, lot)

    assert row["material"] == "pp" and row["installation"] == "ntk-ext1"
    assert row["recycled_content"] == 95.0 and row["window_hours"] == HOURS
    assert row["ntk-ext1:melt_temp_c:mean"] == pytest.approx(temp.mean(), abs=1e-6)
    assert row["ntk-ext1:melt_temp_c:std"] == pytest.approx(temp.std(ddof=1), rel=1e-6)
    assert row["ntk-ext1:melt_temp_c:max"] == pytest.approx(temp.max())
    assert row["ntk-ext1:melt_temp_c:min"] == pytest.approx(temp.min())
    assert row["ntk-ext1:melt_temp_c:out_of_alarm"] == pytest.approx(0.25)
    assert row["ntk-ext1:melt_pressure_in_bar:slope"] == pytest.approx(12.0, rel=0.01)
    assert row["ntk-ext1:melt_pressure_out_bar:slope"] == pytest.approx(0.0, abs=1e-9)
    assert row["ntk-ext1:screen_dp:slope"] == pytest.approx(12.0, rel=0.01)
    assert row["ntk-ext1:screen_dp:mean"] == pytest.approx(50 + 12 * hours.mean(), rel=0.01)
    assert sensor_count(row) == 3
    # Every feature the lot has is one the model knows.
    assert set(row) <= set(feature_names(load_registry()))


def test_a_lot_without_process_data_has_only_metadata(store):
    inst = load_registry().installations["dctv-tear1"]
    lot = LotWindow("L2", "dctv-tear1", "cotton", "post-consumer", 100.0, START, START + timedelta(hours=1))
    row = lot_features(store, inst, lot)
    assert sensor_count(row) == 0
    assert set(row) == {"installation", "material", "input_stream", "recycled_content", "window_hours"}


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(min_value=-1e4, max_value=1e4), min_size=2, max_size=80),
    cuts=st.lists(st.integers(min_value=1, max_value=79), max_size=6),
)
def test_window_statistics_from_buckets_equal_those_of_the_raw_values(values, cuts):
    edges = sorted({c for c in cuts if c < len(values)} | {0, len(values)})
    buckets = []
    for a, b in zip(edges, edges[1:], strict=False):
        part = np.array(values[a:b])
        buckets.append(Bucket(START + a * BUCKET, float(part.mean()), float(part.min()), float(part.max()),
                              float(part.std(ddof=1)) if len(part) > 1 else 0.0, len(part)))
    mean, std, lo, hi = _combine(buckets)
    v = np.array(values)
    assert mean == pytest.approx(v.mean(), abs=1e-6)
    assert std == pytest.approx(v.std(ddof=1), abs=1e-6 * max(1.0, np.abs(v).max()))
    assert (lo, hi) == (v.min(), v.max())
