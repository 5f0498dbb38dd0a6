"""One contract for every time-series store: SQLite (embedded) and InfluxDB (real influxd 1.6)."""

from __future__ import annotations

import math
import statistics
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.store import Point, StoreUnavailable, TimeSeriesStore, open_store
from ingest.store.base import to_ns
from ingest.store.influx_store import InfluxStore
from ingest.store.sqlite_store import SQLiteStore
from lims.kernel.settings import SettingsError, load_settings
from tests.support.influx import free_port

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "influxdb", "influxdb-sole-writer"])
def open_store_again(request, tmp_path):
    """Opens another store object on the same data each call (as a restarted ingester)."""
    opened: list[TimeSeriesStore] = []

    def open_one() -> TimeSeriesStore:
        if request.param == "sqlite":
            s: TimeSeriesStore = SQLiteStore(tmp_path / "ts.db")
        else:
            influx = request.getfixturevalue("influxdb")
            s = InfluxStore(influx.url, influx.token, influx.org, influx.bucket, influx.query_url,
                            sole_writer=request.param == "influxdb-sole-writer")
        opened.append(s)
        return s

    yield open_one
    for s in opened:
        s.close()


@pytest.fixture
def store(open_store_again) -> TimeSeriesStore:
    return open_store_again()


def inst() -> str:
    """A fresh installation key, so hypothesis examples never see each other's points."""
    return f"inst-{uuid.uuid4().hex[:8]}"


def test_store_implements_protocol(store):
    assert isinstance(store, TimeSeriesStore)
    assert store.ping()


def test_written_points_come_back_in_time_order_within_half_open_range(store):
    i = inst()
    pts = [Point(i, "melt_temp_c", T0 + timedelta(seconds=s), 200.0 + s) for s in (5, 1, 3, 0, 9)]
    pts.append(Point(i, "other", T0 + timedelta(seconds=2), 1.5))
    store.write(pts)
    got = store.raw(i, "melt_temp_c", T0, T0 + timedelta(seconds=9))
    assert [p.ts for p in got] == [T0 + timedelta(seconds=s) for s in (0, 1, 3, 5)]
    assert [p.value for p in got] == [200.0, 201.0, 203.0, 205.0]
    assert all(p.installation == i and p.sensor == "melt_temp_c" for p in got)
    assert got[0].ts.tzinfo is not None
    assert [p.value for p in store.raw(i, "melt_temp_c", T0, T0 + timedelta(hours=1), limit=2)] == [
        200.0,
        201.0,
    ]
    assert store.raw(i, "missing", T0, T0 + timedelta(hours=1)) == []
    assert store.raw("no-such-installation", "melt_temp_c", T0, T0 + timedelta(hours=1)) == []


def test_rewriting_a_point_never_duplicates_and_a_different_value_never_replaces_it(store):
    """An exact redelivery is a no-op; another value for a stored point is handed back with
    the value kept (the first), never written over it."""
    i = inst()
    pts = [Point(i, "s", T0 + timedelta(milliseconds=ms), float(ms)) for ms in range(100)]
    assert store.write(pts) == []
    assert store.write(pts) == []
    assert store.write(pts[:10]) == []
    other = (i, "s", to_ns(T0), -1.0)
    new = (i, "s", to_ns(T0) + 500_000_000, 5e8)
    assert store.write_rows([other, new]) == [(other, 0.0)]
    got = store.raw(i, "s", T0, T0 + timedelta(seconds=1))
    assert got == sorted([*pts, Point(i, "s", T0 + timedelta(seconds=0.5), 5e8)],
                         key=lambda p: p.ts)


def test_a_point_stored_before_the_store_was_opened_keeps_its_value(open_store_again):
    """A restarted ingester's store finds what the one before stored, whether the new
    points are older than the series' newest, or as new."""
    i, t = inst(), to_ns(T0)
    assert open_store_again().write_rows([(i, "s", t + 5_000, 5.0), (i, "s", t + 9_000, 9.0)]) == []
    again = open_store_again()
    assert again.write_rows([(i, "s", t + 5_000, 6.0)]) == [((i, "s", t + 5_000, 6.0), 5.0)]
    late, new = (i, "s", t + 9_000, 1.0), (i, "s", t + 10_000, 10.0)
    assert again.write_rows([late, new]) == [(late, 9.0)]
    assert again.write_rows([new, (i, "s", t + 10_000, 11.0)]) == [((i, "s", t + 10_000, 11.0), 10.0)]
    assert [p.value for p in again.raw(i, "s", T0, T0 + timedelta(seconds=1))] == [5.0, 9.0, 10.0]


def test_two_values_for_one_point_in_one_write_keep_the_first(store):
    i = inst()
    t = to_ns(T0)
    rows = [(i, "s", t, 1.0), (i, "s", t + 1_000, 3.0), (i, "s", t, 1.0), (i, "s", t, 2.0),
            (i, "s", t + 1_000, 3.0)]
    assert store.write_rows(rows) == [((i, "s", t, 2.0), 1.0)]
    assert [p.value for p in store.raw(i, "s", T0, T0 + timedelta(seconds=1))] == [1.0, 3.0]


def test_a_stored_value_keeps_its_value_however_far_apart_the_rows_of_a_write_are(store):
    """A write of rows hours apart (a gateway's late readings among live ones, a spool's
    replay) is checked against what is stored at each of their times: more spread-out times
    than the InfluxDB store reads spans for, with the widest gaps not where the conflicts are."""
    i, t, hour = inst(), to_ns(T0), 3_600 * 10**9
    stored = [(i, "s", t + k * hour + k, float(k)) for k in range(0, 80, 2)]
    assert store.write_rows(stored) == []
    again = [(i, "s", ts, value + 0.5) for _, _, ts, value in stored]
    fresh = [(i, "s", t + k * hour + 3 * k, -float(k)) for k in range(1, 80, 2)]
    assert sorted(store.write_rows(fresh + again)) == sorted(
        (row, value) for row, (*_, value) in zip(again, stored, strict=True))
    got = store.raw(i, "s", T0, T0 + timedelta(hours=80))
    assert len(got) == 80 and {p.value for p in got} >= {float(k) for k in range(0, 80, 2)}


def test_a_batch_larger_than_one_request_is_stored_exactly_once(store):
    i = inst()
    t0 = int(T0.timestamp()) * 10**9
    rows = [(i, f"s{k % 4}", t0 + k * 1_000, float(k)) for k in range(45_000)]
    store.write_rows(rows)
    store.write_rows(rows[10_000:30_000])  # a redelivered part changes nothing
    summary = store.window_summary(i, T0, T0 + timedelta(hours=1))
    assert {s: (x.count, x.first, x.last) for s, x in summary.items()} == {
        f"s{n}": (11_250, float(n), float(44_996 + n)) for n in range(4)
    }


def test_floats_of_any_magnitude_come_back_exactly(store):
    i = inst()
    values = [1e16, -1e-7, 5e-324, 1.7976931348623157e308, 0.1 + 0.2, -0.0, 123456789.12345679]
    store.write([Point(i, "x", T0 + timedelta(seconds=n), v) for n, v in enumerate(values)])
    assert [p.value for p in store.raw(i, "x", T0, T0 + timedelta(minutes=1))] == values


def test_microsecond_timestamps_survive(store):
    i = inst()
    ts = T0 + timedelta(microseconds=123457)
    store.write([Point(i, "s", ts, 1.25)])
    assert store.raw(i, "s", T0, T0 + timedelta(seconds=1)) == [Point(i, "s", ts, 1.25)]


def test_latest_gives_the_newest_point_per_sensor(store):
    i = inst()
    store.write(
        [
            Point(i, "a", T0, 1.0),
            Point(i, "a", T0 + timedelta(seconds=10), 2.0),
            Point(i, "b", T0 + timedelta(seconds=5), 3.0),
            Point(inst(), "a", T0 + timedelta(hours=1), 99.0),
        ]
    )
    assert store.latest(i) == {
        "a": Point(i, "a", T0 + timedelta(seconds=10), 2.0),
        "b": Point(i, "b", T0 + timedelta(seconds=5), 3.0),
    }
    assert store.latest("no-such-installation") == {}
    # until: the newest stamped at or before it, as the live view asks (a clock ahead)
    assert store.latest(i, until=T0 + timedelta(seconds=5)) == {
        "a": Point(i, "a", T0, 1.0),
        "b": Point(i, "b", T0 + timedelta(seconds=5), 3.0),
    }
    assert store.latest(i, until=T0 - timedelta(microseconds=1)) == {}


def test_aggregate_buckets_are_aligned_to_start_and_empty_ones_left_out(store):
    i = inst()
    start = T0 + timedelta(seconds=7)  # deliberately not aligned to the epoch
    values = {0: 1.0, 3: 2.0, 9: 6.0, 30: 10.0, 31: 11.0}
    store.write([Point(i, "s", start + timedelta(seconds=s), v) for s, v in values.items()])
    store.write([Point(i, "s", start - timedelta(seconds=1), 1000.0)])  # before the range
    buckets = store.aggregate(i, "s", start, start + timedelta(seconds=40), timedelta(seconds=10))
    assert [b.start for b in buckets] == [start, start + timedelta(seconds=30)]
    first, second = buckets
    assert (first.count, first.min, first.max) == (3, 1.0, 6.0)
    assert first.mean == pytest.approx(3.0)
    assert first.std == pytest.approx(statistics.stdev([1.0, 2.0, 6.0]))
    assert (second.count, second.mean) == (2, pytest.approx(10.5))
    one = store.aggregate(i, "s", start, start + timedelta(seconds=1), timedelta(seconds=10))
    assert len(one) == 1 and one[0].count == 1 and one[0].std == 0.0
    # Charts skip the std (NaN): the rest is the same.
    quick = store.aggregate(i, "s", start, start + timedelta(seconds=40), timedelta(seconds=10),
                            with_std=False)
    assert [(b.start, b.count, b.min, b.max) for b in quick] == [
        (b.start, b.count, b.min, b.max) for b in buckets]
    assert [b.mean for b in quick] == pytest.approx([b.mean for b in buckets])
    assert all(math.isnan(b.std) for b in quick)


def test_window_summary_per_sensor_with_first_and_last(store):
    i = inst()
    store.write(
        [Point(i, "a", T0 + timedelta(seconds=s), v) for s, v in [(3, 5.0), (1, 7.0), (2, 3.0)]]
        + [Point(i, "b", T0 + timedelta(seconds=1), 42.0)]
        + [Point(i, "a", T0 + timedelta(seconds=100), 1e6)]  # outside the window
    )
    summary = store.window_summary(i, T0, T0 + timedelta(seconds=60))
    assert set(summary) == {"a", "b"}
    a = summary["a"]
    assert (a.sensor, a.count, a.min, a.max, a.first, a.last) == ("a", 3, 3.0, 7.0, 7.0, 5.0)
    assert a.mean == pytest.approx(5.0)
    assert a.std == pytest.approx(2.0)
    b = summary["b"]
    assert (b.count, b.first, b.last, b.std) == (1, 42.0, 42.0, 0.0)
    assert store.window_summary(i, T0 - timedelta(days=1), T0) == {}


points_strategy = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.integers(min_value=0, max_value=3_600_000_000),  # µs within one hour
        st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw_points=points_strategy, every_s=st.integers(min_value=1, max_value=900))
def test_any_points_round_trip_and_aggregate_like_a_reference(store, raw_points, every_s):
    i = inst()
    pts = [Point(i, s, T0 + timedelta(microseconds=us), v) for s, us, v in raw_points]
    store.write(pts)
    expected: dict[tuple[str, datetime], float] = {}
    for p in pts:
        expected.setdefault((p.sensor, p.ts), p.value)  # the first value of a point is kept
    end = T0 + timedelta(hours=2)
    for sensor in {"a", "b", "c"}:
        want = sorted((ts, v) for (s, ts), v in expected.items() if s == sensor)
        got = store.raw(i, sensor, T0, end)
        assert [(p.ts, p.value) for p in got] == want
        buckets = store.aggregate(i, sensor, T0, end, timedelta(seconds=every_s))
        assert sum(b.count for b in buckets) == len(want)
        for b in buckets:
            vals = [v for ts, v in want if b.start <= ts < b.start + timedelta(seconds=every_s)]
            assert b.count == len(vals)
            assert (b.min, b.max) == (min(vals), max(vals))
            assert b.mean == pytest.approx(statistics.fmean(vals), rel=1e-9, abs=1e-6)
            ref_std = statistics.stdev(vals) if len(vals) > 1 else 0.0
            assert b.std == pytest.approx(ref_std, rel=1e-6, abs=1e-6)
    summary = store.window_summary(i, T0, end)
    for sensor, s in summary.items():
        want = sorted((ts, v) for (k, ts), v in expected.items() if k == sensor)
        assert (s.count, s.first, s.last) == (len(want), want[0][1], want[-1][1])


def test_unreachable_influxdb_raises_store_unavailable_and_ping_is_false():
    url = f"http://127.0.0.1:{free_port()}"
    s = InfluxStore(url, "t", "recyclab", "db", timeout_s=2)
    assert not s.ping()
    with pytest.raises(StoreUnavailable):
        s.write([Point("x", "y", T0, 1.0)])
    with pytest.raises(StoreUnavailable):
        s.latest("x")
    s.close()


def test_open_store_follows_settings(tmp_path):
    settings = load_settings({"var_dir": str(tmp_path), "timeseries_backend": "sqlite"})
    s = open_store(settings)
    assert isinstance(s, SQLiteStore) and s.path == tmp_path / "timeseries.db"
    s.close()
    s = open_store(load_settings({"timeseries_backend": "influxdb"}))
    assert isinstance(s, InfluxStore)
    s.close()
    # An unknown backend is refused when the settings are read, before any store is opened.
    with pytest.raises(SettingsError, match="RECYCLAB_TIMESERIES_BACKEND='csv'"):
        load_settings({"timeseries_backend": "csv"})


def test_a_range_beyond_the_times_a_store_holds_finds_nothing_there_and_raises_nothing(store):
    """A store keeps times as 64-bit nanoseconds (1677 to 2262); a chart may be asked for any
    year the pages take (1000 to 9000)."""
    i = inst()
    store.write([Point(i, "s", T0, 5.0)])
    far = datetime(8000, 1, 1, tzinfo=UTC)
    every = timedelta(hours=1)
    assert store.aggregate(i, "s", far, far + timedelta(days=1), every) == []
    assert store.raw(i, "s", far, far + timedelta(days=1)) == []
    assert store.window_summary(i, far, far + timedelta(days=1)) == {}
    assert store.latest(i, far)["s"].value == 5.0
    old = datetime(1000, 1, 1, tzinfo=UTC)
    assert store.aggregate(i, "s", old, old + timedelta(days=1), every) == []
    # Partly beyond: what lies within is found, in buckets aligned to the start asked for.
    start = datetime(1677, 9, 1, 0, 30, tzinfo=UTC)
    store.write([Point(i, "s", datetime(1677, 9, 22, 5, 40, tzinfo=UTC), 7.0)])
    [bucket] = store.aggregate(i, "s", start, start + timedelta(days=30), every)
    assert (bucket.start, bucket.count) == (datetime(1677, 9, 22, 5, 30, tzinfo=UTC), 1)
    assert [p.value for p in store.raw(i, "s", start, start + timedelta(days=30))] == [7.0]
