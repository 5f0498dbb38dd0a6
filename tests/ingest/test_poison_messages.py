"""Poison input: one message the LIMS database or the store cannot take must cost exactly its
own bad parts, never the stream behind it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import func, select

from ingest.alarms import AlarmTracker
from ingest.decoders import PayloadDecoder
from ingest.decoders import sparkplug_b_pb2 as pb
from ingest.records import NUL_SHOWN_AS, LimsRecorder
from ingest.registry import load_registry
from ingest.service import IngestConfig, Ingester
from ingest.store.base import EPOCH, to_ns
from ingest.store.influx_store import InfluxStore
from ingest.store.sqlite_store import SQLiteStore
from ingest.validate import Reject, Validator
from lims.kernel.models.process import IngestReject
from tests.ingest.support import (
    T0_MS,
    IngesterThread,
    Publisher,
    json_message,
    private_config,
    wait_until,
)
from tests.support.influx import PrivateInfluxd, V2WriteProxy

T0 = datetime.fromtimestamp(T0_MS / 1000, UTC)
FAR = T0 + timedelta(days=1)


def make_ingester(tmp_path, broker_url, registry, topic, store, session_factory,
                  validator=None, client_id=None, **kw) -> Ingester:
    config = IngestConfig(
        broker_url=broker_url, client_id=client_id or f"ingest-{uuid.uuid4().hex[:10]}",
        topics=(topic,),
        spool_path=tmp_path / "var" / "spool.db", status_path=tmp_path / "var" / "status.json",
        **kw,
    )
    return Ingester(config, store, LimsRecorder(session_factory, AlarmTracker(registry)),
                    validator or Validator(registry))


@pytest.mark.mqtt
def test_nul_bytes_in_a_reject_do_not_stop_the_stream_on_postgresql(
    tmp_path, database_url, mqtt_broker, session_factory
):
    """64 NUL bytes are a malformed payload whose excerpt PostgreSQL text cannot hold; a
    sensor name with a NUL in it the same. Both are stored readably, the values sent after
    them are stored, every message is acknowledged."""
    assert database_url.startswith("postgresql")
    _, inst, reg = private_config(tmp_path)
    topic = f"recyclab/v1/{inst}/main"
    store = SQLiteStore(tmp_path / "ts.db")
    ing = make_ingester(tmp_path, mqtt_broker.url, reg, topic, store, session_factory)
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    count = 50
    try:
        with IngesterThread(ing):
            pub.publish(topic, b"\x00" * 64)
            pub.publish(topic, json_message(count, {"a\u0000b": 1.0, "pressure_bar": 1.5}))
            for seq in range(count):
                pub.publish(topic, json_message(seq, {"pressure_bar": float(seq)}))
            pub.wait_all_acked(10)
            wait_until(lambda: ing.status.messages >= count + 2, 15,
                       "every message handled and acknowledged")
        points = store.raw(inst, "pressure_bar", T0, FAR)
        assert [p.value for p in points] == [float(s) for s in range(count)] + [1.5]
        with session_factory() as s:
            rejects = s.scalars(select(IngestReject).order_by(IngestReject.id)).all()
        assert [(r.reason, r.topic) for r in rejects] == [("malformed", topic),
                                                          ("unknown_sensor", topic)]
        assert rejects[0].excerpt == NUL_SHOWN_AS * 64
        assert rejects[1].sensor == f"a{NUL_SHOWN_AS}b"
        assert ing.status.dead_letters == 0
    finally:
        pub.close()
        store.close()


def _sparkplug_birth_with_a_name_not_utf8() -> bytes:
    """An NBIRTH whose one metric is named by the byte 0xD7, no UTF-8 (the protobuf library
    refuses to build that, so its encoding is edited)."""
    msg = pb.Payload(timestamp=T0_MS, seq=0)
    msg.metrics.add(name="X", datatype=pb.Double, double_value=1.0)
    good = msg.SerializeToString()
    return good.replace(b"\x0a\x01X", b"\x0a\x01\xd7")


@pytest.mark.mqtt
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("stream, payload, reason", [
    ("main", orjson.dumps({"ts": 1e308, "values": {"pressure_bar": 1.0}}), "bad_timestamp"),
    ("spb", _sparkplug_birth_with_a_name_not_utf8(), "malformed"),
    ("lp", b"ext pressure_bar=" + b"9" * 5000 + b"i 1780000000000000000", "malformed"),
    # 1,010 objects deep: within what orjson parses (1,024), beyond Python's recursion limit
    ("main", b'{"ts": 1780000000000, "values": {"pressure_bar": ' + b'{"x": ' * 1010 + b"1"
     + b"}" * 1012, "malformed"),
], ids=["json-time-beyond-any-clock", "sparkplug-name-not-utf8", "line-protocol-5000-digit-int",
        "json-nested-1010-deep"])
def test_a_message_that_trips_a_decoder_is_a_reject_and_the_stream_goes_on(
    tmp_path, mqtt_broker, session_factory, stream, payload, reason
):
    """A JSON time of 1e308 ms (a float, so a valid number), a Sparkplug metric name that is
    not UTF-8, a line-protocol integer of 5000 digits (more than Python converts), a JSON
    value nested 1,010 objects deep (a 6 kB payload): each
    message is a reject with its reason, and the messages after it are stored. A decoder
    that raised would stop the ingester, and, since the message was never acknowledged,
    stop it again on every restart."""
    _, inst, reg = private_config(tmp_path)
    group = f"g{uuid.uuid4().hex[:8]}"
    topic = f"spBv1.0/{group}/NBIRTH/{inst}" if stream == "spb" else f"recyclab/v1/{inst}/{stream}"
    store = SQLiteStore(tmp_path / "ts.db")
    ing = make_ingester(tmp_path, mqtt_broker.url, reg, f"recyclab/v1/{inst}/+", store,
                        session_factory)
    ing.config.topics = (f"recyclab/v1/{inst}/+", f"spBv1.0/{group}/#")
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    count = 20
    try:
        with IngesterThread(ing):
            pub.publish(topic, payload)
            for seq in range(count):
                pub.publish(f"recyclab/v1/{inst}/main",
                            json_message(seq, {"pressure_bar": float(seq)}))
            pub.wait_all_acked(10)
            wait_until(lambda: ing.status.messages >= count + 1 or ing.failed
                       or not ing.status.broker_connected, 15, "every message handled")
            assert not ing.failed and ing.status.messages == count + 1
        points = store.raw(inst, "pressure_bar", T0, FAR)
        assert [p.value for p in points] == [float(s) for s in range(count)]
        with session_factory() as s:
            (reject,) = s.scalars(select(IngestReject)).all()
        assert reject.reason == reason and reject.topic == topic
    finally:
        pub.close()
        store.close()


def test_a_record_the_database_still_refuses_goes_to_the_dead_letter_file(
    tmp_path, database_url, session_factory
):
    """A reject PostgreSQL refuses for its own sake (here: a reason longer than its column)
    lands in the dead-letter file; the records written with it are kept; nothing is raised,
    so the writer goes on."""
    assert database_url.startswith("postgresql")
    _, inst, reg = private_config(tmp_path)
    now = datetime.now(UTC)
    good = Reject("t/x", inst, "temp_c", "out_of_range", "999 outside [0, 400]", "temp_c=999",
                  now)
    bad = Reject("t/x", inst, "temp_c", "x" * 41, "too long a reason", "temp_c=1", now)
    ing = make_ingester(tmp_path, "mqtt://127.0.0.1:1", reg, "t/x", None, session_factory)
    assert ing._record([good, bad, good], [])
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(IngestReject)) == 2
    lines = ing.dead_letter_path.read_text().splitlines()
    assert len(lines) == 1
    dead = json.loads(lines[0])
    assert dead["kind"] == "reject" and dead["record"]["reason"] == "x" * 41
    assert "too long" in dead["error"]  # PostgreSQL's own words: value too long for type ...
    assert ing.status.dead_letters == 1


def test_timestamps_outside_the_plausibility_window_are_rejects(tmp_path):
    _, inst, reg = private_config(tmp_path)
    received = T0 + timedelta(hours=1)
    now_ns = to_ns(received)
    day_ns = 86_400 * 10**9
    stamps = {
        "max_int64": 2**63 - 1,
        "1999": to_ns(datetime(1999, 12, 31, 23, 59, tzinfo=UTC)),
        "2000": to_ns(datetime(2000, 1, 1, tzinfo=UTC)),
        "now": now_ns,
        "in_23h": now_ns + day_ns - 3600 * 10**9,
        "in_25h": now_ns + day_ns + 3600 * 10**9,
    }
    decoded = PayloadDecoder().decode(f"recyclab/v1/{inst}/x", b"[]")
    decoded.readings.extend((inst, "pressure_bar", ts, 1.0) for ts in stamps.values())
    rows, rejects, _ = Validator(reg).check("t", decoded, received)
    assert [r[2] for r in rows] == [stamps["2000"], stamps["now"], stamps["in_23h"]]
    assert [r.reason for r in rejects] == ["timestamp_out_of_range"] * 3
    assert "1999-12-31T23:59:00" in rejects[1].detail
    # the window is configurable
    rows, rejects, _ = Validator(reg, earliest=EPOCH, max_future_s=60).check(
        "t", decoded, received)
    assert [r[2] for r in rows] == [stamps["1999"], stamps["2000"], stamps["now"]]
    assert len(rejects) == 3


@pytest.mark.mqtt
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("partial_write_status", [400, 422], ids=["influxdb-1.x-3.x", "influxdb-2.x"])
def test_a_partial_write_rejects_only_the_refused_rows(
    tmp_path, mqtt_broker, influxdb, session_factory, partial_write_status
):
    """A batch with one timestamp InfluxDB cannot hold (2^63-1 ns, let through by a window
    configured wide open): InfluxDB stores the rest and answers "partial write" (HTTP 400
    from 1.x and 3.x, 422 from 2.x); only that one value is a store_rejected reject, every
    other value is stored and counted, nothing waits in the spool."""
    _, inst, reg = private_config(tmp_path)
    topic = f"recyclab/v1/{inst}/+"
    proxy = V2WriteProxy(influxdb.server.url, partial_write_status=partial_write_status).start()
    store = InfluxStore(proxy.url, influxdb.token, influxdb.org, influxdb.bucket,
                        influxdb.query_url)
    wide_open = Validator(reg, earliest=EPOCH, max_future_s=1e12)
    ing = make_ingester(tmp_path, mqtt_broker.url, reg, topic, store, session_factory,
                        validator=wide_open, linger_s=1.0)
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    count = 200
    try:
        with IngesterThread(ing):
            for seq in range(count):
                if seq == count // 2:
                    pub.publish(f"recyclab/v1/{inst}/lp",
                                f"ext pressure_bar=7.5 {2**63 - 1}".encode())
                pub.publish(f"recyclab/v1/{inst}/main",
                            json_message(seq, {"pressure_bar": float(seq)}))
            pub.wait_all_acked(10)
            wait_until(lambda: ing.status.messages >= count + 1, 20, "every message handled")
        assert ing.status.rejects == {"store_rejected": 1}
        assert ing.status.values_stored == count
        points = store.raw(inst, "pressure_bar", T0, FAR)
        assert [p.value for p in points] == [float(s) for s in range(count)]
        with session_factory() as s:
            (reject,) = s.scalars(select(IngestReject)).all()
        assert reject.reason == "store_rejected" and "7.5" in reject.excerpt
        assert "outside range" in reject.detail
        assert ing.status.values_spooled == 0 and not len(ing.spool)
    finally:
        pub.close()
        store.close()
        proxy.stop()


@pytest.mark.mqtt
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("backend", ["sqlite", "influxdb"])
def test_a_second_value_for_a_stored_point_is_a_reject_and_a_repeat_changes_nothing(
    tmp_path, mqtt_broker, session_factory, backend, request
):
    """A device sending the same reading again (same value) is a no-op, and not counted as
    stored again; another value for a sensor and time that holds one already keeps the
    stored value and is a conflicting_value reject naming both, whether the first came in an
    earlier batch or the same one."""
    _, inst, reg = private_config(tmp_path)
    topic = f"recyclab/v1/{inst}/main"
    if backend == "sqlite":
        store = SQLiteStore(tmp_path / "ts.db")
    else:
        influx = request.getfixturevalue("influxdb")
        store = InfluxStore(influx.url, influx.token, influx.org, influx.bucket, influx.query_url)
    ing = make_ingester(tmp_path, mqtt_broker.url, reg, topic, store, session_factory)
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    try:
        with IngesterThread(ing):
            for seq in range(10):
                pub.publish(topic, json_message(seq, {"pressure_bar": float(seq)}))
            wait_until(lambda: ing.status.messages >= 10, 15, "the first values handled")
            pub.publish(topic, json_message(3, {"pressure_bar": 3.0}))
            pub.publish(topic, json_message(5, {"pressure_bar": 99.0}))
            pub.publish(topic, json_message(10, {"pressure_bar": 10.0}))
            pub.publish(topic, json_message(10, {"pressure_bar": 11.0}))
            wait_until(lambda: ing.status.messages >= 14, 15, "every message handled")
        points = store.raw(inst, "pressure_bar", T0, FAR)
        assert [p.value for p in points] == [float(s) for s in range(11)]
        assert ing.status.rejects == {"conflicting_value": 2}
        assert ing.status.values_stored == 11  # the repeated 3.0 is no new value
        with session_factory() as s:
            rejects = s.scalars(select(IngestReject).order_by(IngestReject.id)).all()
        assert [(r.reason, r.sensor) for r in rejects] == [("conflicting_value", "pressure_bar")] * 2
        assert {r.topic for r in rejects} == {topic}  # the operator finds the sender
        assert sorted((r.excerpt, r.detail) for r in rejects) == sorted([
            (f"pressure_bar=99.0 at {T0 + timedelta(milliseconds=5):%Y-%m-%dT%H:%M:%S.%f}Z",
             "holds 5.0 already, which is kept"),
            (f"pressure_bar=11.0 at {T0 + timedelta(milliseconds=10):%Y-%m-%dT%H:%M:%S.%f}Z",
             "holds 10.0 already, which is kept"),
        ])
    finally:
        pub.close()
        store.close()


@pytest.mark.mqtt
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_write_too_large_for_influxdb_is_split_and_a_point_too_large_alone_is_a_reject(
    tmp_path, mqtt_broker, session_factory
):
    """influxd set to take at most 512 bytes per write answers a larger one HTTP 413. That
    is no outage (retrying the same batch would never end): the batch is written in halves
    until each part fits, and a point too large on its own is a store_rejected reject.
    Nothing waits in the spool."""
    cdir, inst, _ = private_config(tmp_path)
    big = "p" * 600
    with open(cdir / "installations.toml", "a") as f:
        f.write(f'\n[[installation.sensor]]\nkey = "{big}"\nname = "long"\nunit = "-"\n'
                'range = [0, 10]\n')
    reg = load_registry(cdir / "installations.toml")
    topic = f"recyclab/v1/{inst}/main"
    (tmp_path / "influxd").mkdir()
    influxd = PrivateInfluxd(tmp_path / "influxd", max_body_size=512).start()
    proxy = V2WriteProxy(influxd.url).start()
    influxd.create_database("db")
    store = InfluxStore(proxy.url, "", "recyclab", "db", f"{influxd.url}/query")
    ing = make_ingester(tmp_path, mqtt_broker.url, reg, topic, store, session_factory,
                        linger_s=0.5)
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    count = 100
    try:
        with IngesterThread(ing):
            for seq in range(count):
                if seq == count // 2:
                    pub.publish(topic, json_message(count, {big: 1.0}))
                pub.publish(topic, json_message(seq, {"pressure_bar": float(seq)}))
            wait_until(lambda: ing.status.messages >= count + 1, 20, "every message handled")
        assert ing.status.rejects == {"store_rejected": 1}
        points = store.raw(inst, "pressure_bar", T0, FAR)
        assert [p.value for p in points] == [float(s) for s in range(count)]
        with session_factory() as s:
            (reject,) = s.scalars(select(IngestReject)).all()
        assert reject.sensor == big[:120] and "HTTP 413" in reject.detail
        assert ing.status.values_spooled == 0 and not len(ing.spool)
    finally:
        pub.close()
        store.close()
        proxy.stop()
        influxd.stop()


@pytest.mark.mqtt
@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_rejects_of_a_batch_redelivered_after_a_crash_are_recorded_once(
    tmp_path, database_url, mqtt_broker, session_factory
):
    """The ingester dies after the LIMS database took a batch's rejects but before its
    acknowledgements: the broker sends the batch again to the next ingester of the session,
    which finds the same rejects (received later) and records none of them a second time.
    The conflicting value, decided by the store, is recorded once as well."""
    _, inst, reg = private_config(tmp_path)
    topic = f"recyclab/v1/{inst}/main"
    store = SQLiteStore(tmp_path / "ts.db")
    client_id = f"ingest-{uuid.uuid4().hex[:10]}"
    store.write_rows([(inst, "pressure_bar", to_ns(T0) + 5_000_000, 5.0)])
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)

    def ingester() -> Ingester:
        return make_ingester(tmp_path, mqtt_broker.url, reg, topic, store, session_factory,
                             client_id=client_id)

    try:
        first = ingester()
        first._ack = lambda batch: first.stop()  # the crash: rejects committed, nothing acked
        with IngesterThread(first, keep_session=True):
            pub.publish(topic, b"not json")
            pub.publish(topic, json_message(1, {"pressure_bar": 900.0, "nope": 1.0}))
            pub.publish(topic, json_message(5, {"pressure_bar": 6.0}))
            wait_until(lambda: first._stop.is_set(), 15, "the first batch recorded")
        with session_factory() as s:
            recorded = sorted(s.scalars(select(IngestReject.reason)).all())
        assert recorded == ["conflicting_value", "malformed", "out_of_range", "unknown_sensor"]
        second = ingester()
        with IngesterThread(second):
            wait_until(lambda: second.status.messages >= 3, 15, "the batch redelivered")
        assert second.status.rejects == {"conflicting_value": 1, "malformed": 1,
                                         "out_of_range": 1, "unknown_sensor": 1}
        with session_factory() as s:
            assert sorted(s.scalars(select(IngestReject.reason)).all()) == recorded
    finally:
        pub.close()
        store.close()
