"""The pieces between decoding and storing: validation, the alarm tracker, the spool, and
back pressure when the spool is full."""

from __future__ import annotations

import math
import sqlite3
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.alarms import AlarmTracker
from ingest.decoders import MAX_ROUTES, Decoded, PayloadDecoder
from ingest.decoders import sparkplug_b_pb2 as pb
from ingest.records import LimsRecorder
from ingest.registry import Installation, Registry, Sensor, load_registry
from ingest.service import IngestConfig, Ingester
from ingest.spool import Spool
from ingest.store.base import from_ns, to_ns
from ingest.store.influx_store import InfluxStore
from ingest.store.sqlite_store import SQLiteStore
from ingest.validate import REASONS, Validator
from lims.kernel.clock import frozen_at
from tests.ingest.support import (
    T0_MS,
    IngesterThread,
    PrivateMosquitto,
    Publisher,
    json_message,
    private_config,
    wait_until,
)
from tests.support.influx import V2WriteProxy, free_port

NOW = datetime(2026, 5, 29, tzinfo=UTC)  # a few hours after T0_MS: plausible timestamps
NOW_NS = to_ns(NOW)


@pytest.fixture
def registry(tmp_path):
    _, inst, reg = private_config(tmp_path)
    return inst, reg


def test_validation_keeps_good_values_and_names_every_bad_one(registry):
    inst, reg = registry
    msg = pb.Payload(timestamp=T0_MS, seq=0)
    for name, value in [("temp_c", 200.0), ("temp_c", math.nan), ("pressure_bar", math.inf),
                        ("pressure_bar", -1.0), ("pressure_bar", 5.0)]:
        msg.metrics.add(name=name, datatype=pb.Double, double_value=value)
    msg.metrics.add(name="temp_c", datatype=pb.Boolean, boolean_value=True)
    msg.metrics.add(name="nope", datatype=pb.Int32, int_value=1)
    decoded = PayloadDecoder().decode(f"spBv1.0/g/NBIRTH/{inst}", msg.SerializeToString())
    rows, rejects, watched = Validator(reg).check("topic/x", decoded, NOW)
    ns = T0_MS * 10**6
    assert rows == [(inst, "temp_c", ns, 200.0), (inst, "pressure_bar", ns, 5.0)]
    assert watched == [(inst, "temp_c", ns, 200.0)]  # the one sensor with alarm limits
    assert [(r.sensor, r.reason) for r in rejects] == [
        ("temp_c", "non_finite"), ("pressure_bar", "non_finite"),
        ("pressure_bar", "out_of_range"), ("temp_c", "non_numeric"), ("nope", "unknown_sensor"),
    ]
    assert all(r.reason in REASONS and r.topic == "topic/x" and r.received_at == NOW
               for r in rejects)
    assert "[0, 600]" in rejects[2].detail


def test_an_unbounded_range_still_turns_away_nan_and_infinities():
    sensor = Sensor("any", "any", "1", -math.inf, math.inf)
    reg = Registry(lines={}, installations={"i": Installation("i", "l", "k", "n", {"any": sensor})})
    decoded = PayloadDecoder().decode("recyclab/v1/i/x", b"[]")
    values = [1e308, -1e308, 0.0, math.nan, math.inf, -math.inf, 7]
    decoded.readings.extend(("i", "any", NOW_NS - n, v) for n, v in enumerate(values))
    rows, rejects, _ = Validator(reg).check("t", decoded, NOW)
    assert [v for *_, v in rows] == [1e308, -1e308, 0.0, 7.0]
    assert [r.reason for r in rejects] == ["non_finite"] * 3


def test_the_topic_route_memory_is_bounded_and_never_changes_a_result():
    decoder = PayloadDecoder()
    for n in range(MAX_ROUTES + 50):
        topic = f"recyclab/v1/inst{n}/" + ("lp" if n % 2 else "main")
        payload = b"m v=1.5 1700000000000000000" if n % 2 else b'{"ts": 1, "values": {"v": 1.5}}'
        for _ in range(2):  # first via the topic, then (while there is room) remembered
            decoded = decoder.decode(topic, payload)
            assert [r[:2] for r in decoded.readings] == [(f"inst{n}", "v")], topic
    assert len(decoder._routes) == MAX_ROUTES


@pytest.fixture(scope="module")
def module_registry(tmp_path_factory):
    _, inst, reg = private_config(tmp_path_factory.mktemp("registry"))
    return inst, reg


@given(values=st.lists(
    st.one_of(st.floats(), st.integers(), st.integers(2**1024, 2**1100), st.booleans(),
              st.none(), st.text()),
    max_size=20,
))
def test_validation_partitions_any_values(module_registry, values):
    inst, reg = module_registry
    decoded = PayloadDecoder().decode(f"recyclab/v1/{inst}/x", b"[]")
    decoded.readings.extend((inst, "pressure_bar", NOW_NS - i, v) for i, v in enumerate(values))
    rows, rejects, watched = Validator(reg).check("t", decoded, NOW)
    assert len(rows) + len(rejects) == len(values)
    assert all(type(v) is float and 0 <= v <= 600 for *_, v in rows)
    assert {r.reason for r in rejects} <= {"non_numeric", "non_finite", "out_of_range"}
    assert watched == []  # pressure_bar has no alarm limits


def test_alarm_opens_tracks_peak_closes_and_ignores_late_values(registry):
    inst, reg = registry
    tracker = AlarmTracker(reg)

    def feed(*pairs):
        return tracker.observe([(inst, "temp_c", t * 10**9, v) for t, v in pairs])

    assert feed((1, 200.0)) == []
    (ev,) = feed((2, 260.0), (3, 280.0), (4, 270.0))
    assert (ev.kind, ev.limit, ev.started_at, ev.peak_value, ev.ended_at) == (
        "high", 250.0, from_ns(2 * 10**9), 280.0, None)
    assert feed((1, 50.0)) == []  # older than what we saw: neither opens nor closes anything
    closed, opened = feed((5, 90.0))  # straight from high to low: one closes, one opens
    assert closed is ev and ev.ended_at == from_ns(5 * 10**9)
    assert (opened.kind, opened.peak_value) == ("low", 90.0)
    # not a new extreme, yet beyond the limit later: the event says so (last_beyond_at)
    assert feed((6, 95.0)) == [opened] and opened.peak_value == 90.0
    assert opened.last_beyond_at == from_ns(6 * 10**9)
    assert feed((7, 85.0))[0].peak_value == 85.0
    assert feed((8, 150.0))[0].ended_at == from_ns(8 * 10**9)
    assert tracker.active == {}
    # pressure_bar has no alarm limits: never an alarm
    assert tracker.observe([(inst, "pressure_bar", 9 * 10**9, 599.0)]) == []


def test_a_reloaded_registry_applies_its_limits_and_ends_alarms_it_no_longer_has(tmp_path):
    """New limits and ranges count from the next batch; an ongoing alarm whose limits were
    taken out ends at the reload (no value could end it any more) and comes back from the
    next observe(), to be recorded with that batch."""
    cdir, inst, reg = private_config(tmp_path)
    tracker, validator = AlarmTracker(reg), Validator(reg)
    (ev,) = tracker.observe([(inst, "temp_c", NOW_NS, 300.0)], NOW)
    path = cdir / "installations.toml"
    path.write_text(path.read_text().replace("alarm_low = 100\nalarm_high = 250\n", "")
                    .replace("range = [0, 600]", "range = [0, 50]"))
    changed = load_registry(path)
    with frozen_at(NOW + timedelta(minutes=5)):
        tracker.use(changed)
    validator.use(changed)
    assert tracker.active == {} and ev.ended_at == NOW + timedelta(minutes=5)
    assert tracker.observe([(inst, "temp_c", NOW_NS + 10**9, 300.0)], NOW) == [ev]
    assert tracker.observe([], NOW) == []
    decoded = Decoded([(inst, "pressure_bar", NOW_NS, 60.0)])
    _, rejects, _ = validator.check("t", decoded, NOW)
    assert [r.reason for r in rejects] == ["out_of_range"]


def test_spool_is_bounded_durable_and_replays_oldest_first(tmp_path):
    path = tmp_path / "spool.db"
    spool = Spool(path, max_values=5)
    assert spool.append([("a", "s", 1, 1.0), ("a", "s", 2, 2.0)])
    assert spool.append([("a", "s", 3, 3.0)])
    assert not spool.append([("a", "s", 4, 4.0)] * 3)  # would exceed 5 values
    stats = spool.stats()
    assert (stats.batches, stats.values, stats.full) == (2, 3, True)
    assert stats.oldest_age_s is not None and stats.oldest_age_s >= 0
    spool.close()
    spool = Spool(path, max_values=5)  # a restart finds everything again
    batch_id, rows = spool.oldest()
    assert rows == [("a", "s", 1, 1.0), ("a", "s", 2, 2.0)]
    spool.remove(batch_id)
    assert spool.oldest()[1] == [("a", "s", 3, 3.0)]
    assert spool.stats().values == 1 and len(spool) == 1
    spool.close()


class CountingSQLiteStore(SQLiteStore):
    """The real store, counting its writes: replay speed is the number of round trips."""

    writes = 0

    def write_rows(self, rows):
        self.writes += 1
        return super().write_rows(rows)


def test_spool_hands_out_the_oldest_batches_merged_and_removes_them_together(tmp_path):
    spool = Spool(tmp_path / "spool.db")
    for ts in range(5):
        assert spool.append([("a", "s", ts, float(ts)), ("a", "t", ts, 1.0)])
    last_id, rows = spool.oldest(max_values=5)  # two batches fit, the third would not
    assert rows == [("a", "s", 0, 0.0), ("a", "t", 0, 1.0), ("a", "s", 1, 1.0), ("a", "t", 1, 1.0)]
    assert spool.remove(last_id)
    assert (len(spool), spool.stats().values) == (3, 6)
    assert spool.oldest(max_values=1)[1] == [("a", "s", 2, 2.0), ("a", "t", 2, 1.0)]  # >= 1 batch
    last_id, rows = spool.oldest(max_values=100)
    assert [r[2] for r in rows] == [2, 2, 3, 3, 4, 4]
    assert spool.remove(last_id) and not len(spool) and spool.stats().oldest_age_s is None
    spool.close()


@pytest.mark.mqtt
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_spool_of_many_small_batches_replays_in_a_few_store_writes(
    tmp_path, mqtt_broker, session_factory
):
    """An hour's outage at a few messages a second leaves thousands of small batches; each
    store write is a round trip (InfluxDB: a read and a write), so replaying them one by one
    fell behind the live stream (CI: the spool not empty 30 s after InfluxDB came back)."""
    _, inst, reg = private_config(tmp_path)
    earlier_run = Spool(tmp_path / "spool.db")
    for seq in range(600):
        assert earlier_run.append([(inst, "temp_c", NOW_NS + seq * 10**9, 200.0),
                                   (inst, "pressure_bar", NOW_NS + seq * 10**9, 5.0)])
    earlier_run.close()
    store = CountingSQLiteStore(tmp_path / "ts.db")
    config = IngestConfig(
        broker_url=mqtt_broker.url, client_id=f"ingest-{uuid.uuid4().hex[:8]}",
        topics=(f"recyclab/v1/{inst}/main",), spool_path=tmp_path / "spool.db",
        status_path=tmp_path / "status.json", batch_values=500,
    )
    ingester = Ingester(config, store, LimsRecorder(session_factory, AlarmTracker(reg)),
                        Validator(reg))
    with IngesterThread(ingester):
        wait_until(lambda: not len(ingester.spool), 20, "the spool to be replayed")
    assert store.writes == 3  # 1,200 values in writes of at most 500
    points = store.raw(inst, "temp_c", from_ns(NOW_NS), from_ns(NOW_NS) + timedelta(hours=1))
    assert len(points) == 600
    store.close()


@pytest.mark.mqtt
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_full_spool_stops_acking_and_nothing_is_lost(tmp_path, mqtt_broker, influxdb,
                                                     session_factory):
    """Store down and spool full: the ingester stops acknowledging, so the broker keeps the
    rest; after a restart with the store back, every value is there exactly once."""
    _, inst, reg = private_config(tmp_path)
    port = free_port()
    client_id = f"ingest-{uuid.uuid4().hex[:8]}"
    topic = f"recyclab/v1/{inst}/main"

    def ingester(store) -> Ingester:
        config = IngestConfig(
            broker_url=mqtt_broker.url, client_id=client_id, topics=(topic,),
            spool_path=tmp_path / "spool.db", spool_max_values=60,
            status_path=tmp_path / "status.json", retry_max_s=0.5, batch_values=10,
        )
        return Ingester(config, store, LimsRecorder(session_factory, AlarmTracker(reg)),
                        Validator(reg))

    down = InfluxStore(f"http://127.0.0.1:{port}", "t", "o", influxdb.bucket, timeout_s=2)
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    count = 100
    first = ingester(down)
    with IngesterThread(first, keep_session=True):
        for seq in range(count):
            pub.publish(topic, json_message(seq, {"temp_c": 200.0, "pressure_bar": float(seq)}))
        pub.wait_all_acked(10)
        wait_until(lambda: first.spool.stats().full, 10, "the spool to fill up")
        time.sleep(1)
        spooled = first.spool.stats().values
        assert spooled <= 60
        assert first.status.messages < count  # the rest was never acknowledged
    down.close()

    proxy = V2WriteProxy(influxdb.server.url, port=port).start()
    store = InfluxStore(proxy.url, "t", "o", influxdb.bucket)
    try:
        second = ingester(store)
        with IngesterThread(second):
            wait_until(lambda: len(store.raw(inst, "pressure_bar", NOW - timedelta(days=2), NOW))
                       >= count, 20, "spool replay plus redelivered messages", interval=0.3)
            wait_until(lambda: not len(second.spool), 5, "the spool to empty")
        t0 = datetime.fromtimestamp(T0_MS / 1000, UTC)
        points = store.raw(inst, "pressure_bar", t0, t0 + timedelta(days=1))
        assert [p.value for p in points] == [float(s) for s in range(count)]  # sent = stored
        assert len(store.raw(inst, "temp_c", t0, t0 + timedelta(days=1))) == count
    finally:
        pub.close()
        store.close()
        proxy.stop()


@pytest.mark.mqtt
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_stalled_store_stops_the_reading_not_the_memory(tmp_path, session_factory):
    """The store hangs (another connection holds its file locked) while thousands of messages
    queue up at the broker. When it moves again, Mosquitto 2.0 sends the whole queue at once
    (it honours Receive Maximum only until acks flow): the ingester's incoming queue fills to
    receive_maximum, no deeper, because it stops reading the socket until there is room.
    Every value is stored exactly once."""
    _, inst, reg = private_config(tmp_path)
    broker = PrivateMosquitto(tmp_path / "mosquitto").start()
    topic = f"recyclab/v1/{inst}/main"
    store = SQLiteStore(tmp_path / "ts.db")
    config = IngestConfig(
        broker_url=f"mqtt://{broker.host}:{broker.port}", client_id=f"ingest-{uuid.uuid4().hex[:8]}",
        topics=(topic,), receive_maximum=200, batch_values=50, linger_s=0.01,
        spool_path=tmp_path / "spool.db", status_path=tmp_path / "status.json",
        store_timeout_s=60,  # the stall is what this test is about: no spooling meanwhile
    )
    ing = Ingester(config, store, LimsRecorder(session_factory, AlarmTracker(reg)),
                   Validator(reg))
    pub = Publisher(broker.host, broker.port)
    lock = sqlite3.connect(tmp_path / "ts.db", isolation_level=None)
    first, count = 300, 5000
    try:
        with IngesterThread(ing):
            for seq in range(first):  # acknowledged: from now on the broker sends all it has
                pub.publish(topic, json_message(seq, {"pressure_bar": float(seq % 600)}))
            wait_until(lambda: ing.status.messages >= first, 20, "the first messages")
            lock.execute("BEGIN EXCLUSIVE")  # the store's next write waits (busy timeout)
            try:
                for seq in range(first, count):
                    pub.publish(topic, json_message(seq, {"pressure_bar": float(seq % 600)}))
                pub.wait_all_acked(20)
                time.sleep(0.5)
                assert ing.status.messages < first + config.receive_maximum  # queued at the broker
            finally:
                lock.execute("ROLLBACK")
            # The first acks after the stall release the broker's whole queue towards us.
            deepest = 0
            deadline = time.monotonic() + 60
            while ing.status.values_stored < count and time.monotonic() < deadline:
                deepest = max(deepest, len(ing._queue))
                time.sleep(0.002)
            assert ing.status.values_stored == count
            assert deepest == config.receive_maximum  # full, and no deeper
        t0 = datetime.fromtimestamp(T0_MS / 1000, UTC)
        points = store.raw(inst, "pressure_bar", t0, t0 + timedelta(days=1))
        assert [p.value for p in points] == [float(s % 600) for s in range(count)]
    finally:
        lock.close()
        pub.close()
        store.close()
        broker.stop()
