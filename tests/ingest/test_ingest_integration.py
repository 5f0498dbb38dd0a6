"""Story: a pilot line publishes a mix of good and bad data; exactly the good values end up in
the time-series store, every bad part is a reject with its reason, alarms open and close."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import orjson
import pytest
from sqlalchemy import func, select

from ingest.alarms import AlarmTracker
from ingest.decoders import sparkplug_b_pb2 as pb
from ingest.records import LimsRecorder
from ingest.registry import Registry
from ingest.service import IngestConfig, Ingester
from ingest.status import read_status
from ingest.store.influx_store import InfluxStore
from ingest.store.sqlite_store import SQLiteStore
from ingest.validate import Validator
from lims.kernel.models.process import AlarmEvent, IngestReject
from tests.ingest.support import (
    T0_MS,
    IngesterThread,
    PrivateMosquitto,
    Publisher,
    json_message,
    private_config,
    wait_until,
)

pytestmark = [
    pytest.mark.mqtt,
    pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True),
]

T0 = datetime.fromtimestamp(T0_MS / 1000, UTC)
FAR = T0 + timedelta(days=1)


def ts(seq: int) -> datetime:
    return T0 + timedelta(milliseconds=seq)


def make_ingester(tmp_path, broker, registry, topics, store, session_factory, **kw) -> Ingester:
    config = IngestConfig(
        broker_url=broker.url,
        client_id=kw.pop("client_id", f"ingest-{uuid.uuid4().hex[:10]}"),
        topics=tuple(topics),
        spool_path=tmp_path / "spool.db",
        status_path=tmp_path / "var" / "ingest-status.json",
        **kw,
    )
    recorder = LimsRecorder(session_factory, AlarmTracker(registry))
    return Ingester(config, store, recorder, Validator(registry))


@pytest.fixture(params=["influxdb", "sqlite"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = SQLiteStore(tmp_path / "ts.db")
    else:
        influx = request.getfixturevalue("influxdb")
        s = InfluxStore(influx.url, influx.token, influx.org, influx.bucket, influx.query_url)
    yield s
    s.close()


def spb(seq: int, ts_ms: int, metrics: list[dict]) -> bytes:
    msg = pb.Payload(timestamp=ts_ms, seq=seq)
    for m in metrics:
        metric = msg.metrics.add()
        for k, v in m.items():
            setattr(metric, k, v)
    return msg.SerializeToString()


def test_mixed_traffic_stores_exactly_the_valid_values(
    tmp_path, mqtt_broker, store, session_factory
):
    _, inst, registry = private_config(tmp_path)
    group = f"g{uuid.uuid4().hex[:8]}"
    stranger = f"nope{uuid.uuid4().hex[:6]}"
    topic = f"recyclab/v1/{inst}/main"
    want_temp: dict[datetime, float] = {}
    want_pressure: dict[datetime, float] = {}
    want_rejects: dict[str, int] = {}
    messages: list[tuple[str, bytes]] = []

    def reject(reason: str) -> None:
        want_rejects[reason] = want_rejects.get(reason, 0) + 1

    for seq in range(300):
        if seq % 25 == 13:
            messages.append((topic, b'{"ts": 1, "values": '))  # cut off: malformed
            reject("malformed")
            continue
        temp = 200.0 + seq % 7
        if 50 <= seq < 60:
            temp = 260.0 + (seq - 50)  # high alarm, peak 269 at seq 59, closed by seq 60
        if seq >= 290:
            temp = 90.0 - (seq - 290)  # low alarm still active at the end, peak 81
        values: dict[str, object] = {"temp_c": temp, "pressure_bar": float(seq)}
        if seq % 10 == 3:
            values["bogus_sensor"] = 1.0
            reject("unknown_sensor")
        if seq % 15 == 7:
            values["temp_c"] = 999.0
            reject("out_of_range")
        if seq % 20 == 11:
            values["pressure_bar"] = "n/a"
            reject("non_numeric")
        if values["temp_c"] != 999.0:
            want_temp[ts(seq)] = float(values["temp_c"])
        if values["pressure_bar"] != "n/a":
            want_pressure[ts(seq)] = float(values["pressure_bar"])
        messages.append((topic, json_message(seq, values)))

    # line protocol (low alarm goes on): two good lines, one without timestamp, one with a NaN-ish bad value
    lp_ns = (T0_MS + 1000) * 10**6
    messages.append((f"recyclab/v1/{inst}/lp",
                     f"ext temp_c=95.5,pressure_bar=7i {lp_ns}\n"
                     f"ext temp_c=96.5 {lp_ns + 10**6}\n"
                     f"ext temp_c=203.5\n"
                     f"ext pressure_bar=inf {lp_ns}".encode()))
    want_temp[T0 + timedelta(milliseconds=1000)] = 95.5
    want_pressure[T0 + timedelta(milliseconds=1000)] = 7.0
    want_temp[T0 + timedelta(milliseconds=1001)] = 96.5
    reject("bad_timestamp")
    reject("malformed")

    # Sparkplug B: BIRTH with aliases, DATA by alias, an unknown alias, an unknown edge node
    messages.append((f"spBv1.0/{group}/NBIRTH/{inst}", spb(0, T0_MS + 2000, [
        {"name": "bdSeq", "datatype": pb.Int64, "long_value": 0},
        {"name": "Line/pressure_bar", "alias": 1, "datatype": pb.Double, "double_value": 11.0},
    ])))
    want_pressure[T0 + timedelta(milliseconds=2000)] = 11.0
    messages.append((f"spBv1.0/{group}/NDATA/{inst}", spb(1, T0_MS + 2001, [
        {"alias": 1, "datatype": pb.Double, "double_value": 12.0},
        {"alias": 5, "datatype": pb.Double, "double_value": 13.0},
    ])))
    want_pressure[T0 + timedelta(milliseconds=2001)] = 12.0
    reject("unknown_alias")
    messages.append((f"spBv1.0/{group}/NBIRTH/{stranger}", spb(0, T0_MS + 2002, [
        {"name": "temp_c", "alias": 1, "datatype": pb.Double, "double_value": 1.0},
    ])))
    reject("unknown_installation")
    # a gateway's devices: the one the registry maps is the installation's, the other refused
    registry = Registry(registry.lines, {inst: replace(registry.installations[inst],
                                                       sparkplug_device=f"{group}/gw/plc1")})
    for seq, (device, ms) in enumerate([("plc1", T0_MS + 2003), ("plc2", T0_MS + 2004)]):
        messages.append((f"spBv1.0/{group}/DBIRTH/gw/{device}", spb(seq, ms, [
            {"name": "pressure_bar", "alias": 1, "datatype": pb.Double, "double_value": 14.0},
        ])))
    want_pressure[T0 + timedelta(milliseconds=2003)] = 14.0
    reject("unmapped_device")

    ingester = make_ingester(
        tmp_path, mqtt_broker, registry, [f"recyclab/v1/{inst}/+", f"spBv1.0/{group}/#"],
        store, session_factory,
    )
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    commands: list[tuple[str, bytes]] = []
    pub.client.on_message = lambda _c, _u, m: commands.append((m.topic, m.payload))
    pub.client.subscribe(f"spBv1.0/{group}/NCMD/+", qos=1)
    with IngesterThread(ingester):
        for t, payload in messages:
            pub.publish(t, payload)
        pub.wait_all_acked(20)
        wait_until(lambda: ingester.status.messages >= len(messages), 30,
                   "the ingester to process every message")
        status = wait_until(
            lambda: (s := read_status(ingester.config.status_path))
            and s["messages_total"] >= len(messages) and s,
            5, "the status file",
        )
        # the unknown alias made the ingester ask that edge node for a new BIRTH
        wait_until(lambda: commands, 5, "a rebirth command")
    pub.close()
    (cmd_topic, cmd_payload), = commands
    assert cmd_topic == f"spBv1.0/{group}/NCMD/{inst}"
    (metric,) = pb.Payload.FromString(cmd_payload).metrics
    assert (metric.name, metric.boolean_value) == ("Node Control/Rebirth", True)

    got_temp = store.raw(inst, "temp_c", T0, FAR)
    got_pressure = store.raw(inst, "pressure_bar", T0, FAR)
    assert {p.ts: p.value for p in got_temp} == want_temp
    assert {p.ts: p.value for p in got_pressure} == want_pressure
    assert len(got_temp) == len(want_temp) and len(got_pressure) == len(want_pressure)
    assert set(store.latest(inst)) == {"temp_c", "pressure_bar"}

    with session_factory() as s:
        by_reason = dict(s.execute(
            select(IngestReject.reason, func.count()).group_by(IngestReject.reason)
        ).all())
        assert by_reason == want_rejects
        sample = s.scalars(select(IngestReject).where(IngestReject.reason == "out_of_range")).first()
        assert sample.installation == inst and sample.sensor == "temp_c"
        assert sample.topic == topic and "999" in sample.excerpt and sample.received_at.tzinfo
        malformed = s.scalars(
            select(IngestReject).where(IngestReject.reason == "malformed",
                                       IngestReject.topic == topic)
        ).first()
        assert malformed.excerpt.startswith('{"ts": 1')
        alarms = s.scalars(select(AlarmEvent).order_by(AlarmEvent.started_at)).all()
    assert [(a.installation, a.sensor, a.kind, a.limit) for a in alarms] == [
        (inst, "temp_c", "high", 250.0),
        (inst, "temp_c", "low", 100.0),
    ]
    high, low = alarms
    assert (high.started_at, high.peak_value, high.ended_at) == (ts(50), 269.0, ts(60))
    assert (low.started_at, low.peak_value, low.ended_at) == (ts(290), 81.0, None)

    assert status["rejects_by_reason"] == want_rejects
    assert status["values_stored_total"] == len(want_temp) + len(want_pressure)
    assert status["spool"]["values"] == 0
    assert inst in status["last_message"]
    assert orjson.loads(orjson.dumps(status))  # plain JSON


def test_mqtt_311_fallback_and_shared_subscription_split_the_stream(
    tmp_path, mqtt_broker, session_factory
):
    """Two ingesters in one shared-subscription group (MQTT 5) split the stream; a third on
    MQTT 3.1.1 gets its own copy. Each value is stored once per store."""
    _, inst, registry = private_config(tmp_path)
    topic = f"recyclab/v1/{inst}/main"
    group = f"grp{uuid.uuid4().hex[:6]}"
    shared_store = SQLiteStore(tmp_path / "shared.db")
    v311_store = SQLiteStore(tmp_path / "v311.db")
    members = [
        make_ingester(tmp_path / f"m{i}", mqtt_broker, registry, [topic], shared_store,
                      session_factory, shared_group=group)
        for i in range(2)
    ]
    v311 = make_ingester(tmp_path / "v311", mqtt_broker, registry, [topic], v311_store,
                         session_factory, mqtt_version="3.1.1")
    assert members[0].config.subscriptions() == [f"$share/{group}/{topic}"]
    count = 200
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    try:
        with IngesterThread(members[0]), IngesterThread(members[1]), IngesterThread(v311):
            for seq in range(count):
                pub.publish(topic, json_message(seq, {"pressure_bar": float(seq)}))
            pub.wait_all_acked(20)
            wait_until(lambda: sum(m.status.messages for m in members) >= count
                       and v311.status.messages >= count, 20, "both consumers to finish")
        assert all(m.status.messages > 0 for m in members)  # really split
        assert sum(m.status.messages for m in members) == count
        for store in (shared_store, v311_store):
            points = store.raw(inst, "pressure_bar", T0, FAR)
            assert [p.value for p in points] == [float(s) for s in range(count)]
    finally:
        pub.close()
        shared_store.close()
        v311_store.close()


def test_a_clean_stop_mid_stream_leaves_nothing_acknowledged_to_come_again(
    tmp_path, session_factory
):
    """Stopped while messages still pour in, then started again on the same session: every
    message is handled exactly once over the two runs, none acknowledged by the first comes
    again (its last acks reach the broker before the connection closes). A private broker
    with the project's limits queues everything for the stopped session."""
    _, inst, registry = private_config(tmp_path)
    broker = PrivateMosquitto(tmp_path / "mosquitto").start()
    mqtt_broker = SimpleNamespace(url=f"mqtt://{broker.host}:{broker.port}", host=broker.host,
                                  port=broker.port)
    topic = f"recyclab/v1/{inst}/main"
    store = SQLiteStore(tmp_path / "ts.db")
    client_id = f"ingest-{uuid.uuid4().hex[:10]}"
    runs = [make_ingester(tmp_path / f"run{n}", mqtt_broker, registry, [topic], store,
                          session_factory, client_id=client_id, linger_s=0.005,
                          batch_values=50)
            for n in range(2)]
    count = 3000
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)

    def stream() -> None:
        # About 1,000 messages/s: the stop lands while the stream still flows, however fast the
        # ingester keeps up (published all at once, it had stored every one before its stop).
        for seq in range(count):
            pub.publish(topic, json_message(seq, {"pressure_bar": float(seq % 500)}))
            if seq % 100 == 99:
                time.sleep(0.1)

    sender = threading.Thread(target=stream)
    try:
        with IngesterThread(runs[0], keep_session=True):
            sender.start()
            wait_until(lambda: runs[0].status.messages >= count // 3, 60, "the first third")
        assert runs[0].status.messages < count, "stopped too late to test anything"
        sender.join(60)
        pub.wait_all_acked(60)
        with IngesterThread(runs[1]):
            wait_until(lambda: len(store.raw(inst, "pressure_bar", T0, FAR)) >= count, 60,
                       "every message stored")
            time.sleep(1.0)  # late redeliveries would show up here
        assert runs[0].status.messages + runs[1].status.messages == count
        assert len(store.raw(inst, "pressure_bar", T0, FAR)) == count
    finally:
        if sender.is_alive():
            sender.join(60)
        pub.close()
        store.close()
        broker.stop()
