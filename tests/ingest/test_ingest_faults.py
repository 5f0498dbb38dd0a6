"""Faults mid-stream: the store goes away for 30 s, the broker restarts, the ingester is
SIGKILLed. Each story ends the same way: sent = stored, no duplicates."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ingest.alarms import AlarmTracker
from ingest.records import LimsRecorder
from ingest.service import IngestConfig, Ingester
from ingest.status import read_status
from ingest.store.base import TimeSeriesStore
from ingest.store.influx_store import InfluxStore
from ingest.store.sqlite_store import SQLiteStore
from ingest.validate import Validator
from tests.ingest.support import (
    T0_MS,
    IngesterProcess,
    IngesterThread,
    PrivateMosquitto,
    Publisher,
    ingester_env,
    json_message,
    private_config,
    wait_until,
)
from tests.support.influx import PrivateInfluxd, V2WriteProxy

pytestmark = [
    pytest.mark.mqtt,
    pytest.mark.slow,
    pytest.mark.timeout(120),
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

SENSORS = ("temp_c", "pressure_bar")
T0 = datetime.fromtimestamp(T0_MS / 1000, UTC)


class SteadyPublisher(threading.Thread):
    """Publishes `count` JSON messages (one per ms of device time) at `rate` messages/s."""

    def __init__(self, pub: Publisher, topic: str, count: int, rate: float) -> None:
        super().__init__(daemon=True)
        self.pub, self.topic, self.count, self.rate = pub, topic, count, rate
        self.sent = 0

    def run(self) -> None:
        start = time.monotonic()
        for seq in range(self.count):
            delay = start + seq / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.pub.publish(self.topic, json_message(seq, {"temp_c": 200.0 + seq % 50,
                                                             "pressure_bar": float(seq % 600)}))
            self.sent += 1


def assert_sent_equals_stored(store: TimeSeriesStore, inst: str, count: int) -> None:
    """sent = stored, no duplicates: every (sensor, ts) exactly once with the sent value."""
    for sensor in SENSORS:
        points = store.raw(inst, sensor, T0, T0 + timedelta(days=1))
        assert len(points) == count, f"{sensor}: stored {len(points)} of {count} sent"
        assert len({p.ts for p in points}) == count
        assert [p.ts for p in points] == [T0 + timedelta(milliseconds=s) for s in range(count)]
        want = [200.0 + s % 50 if sensor == "temp_c" else float(s % 600) for s in range(count)]
        assert [p.value for p in points] == want


def ingester_for(tmp_path, broker_url, registry, topics, store, session_factory) -> Ingester:
    config = IngestConfig(
        broker_url=broker_url, client_id=f"ingest-{uuid.uuid4().hex[:10]}",
        topics=tuple(topics), spool_path=tmp_path / "spool.db",
        status_path=tmp_path / "var" / "ingest-status.json", retry_max_s=2.0,
    )
    return Ingester(config, store, LimsRecorder(session_factory, AlarmTracker(registry)),
                    Validator(registry))


def test_influxdb_down_for_30s_mid_stream_spools_then_replays(
    tmp_path, mqtt_broker, session_factory
):
    _, inst, registry = private_config(tmp_path)
    (tmp_path / "influxd").mkdir()
    influxd = PrivateInfluxd(tmp_path / "influxd").start()
    proxy = V2WriteProxy(influxd.url).start()
    influxd.create_database("process")
    store = InfluxStore(proxy.url, "t", "recyclab", "process", timeout_s=5)
    ingester = ingester_for(tmp_path, mqtt_broker.url, registry, [f"recyclab/v1/{inst}/+"],
                            store, session_factory)
    count, rate = 1400, 40.0
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    try:
        with IngesterThread(ingester):
            sender = SteadyPublisher(pub, f"recyclab/v1/{inst}/main", count, rate)
            sender.start()
            time.sleep(2)
            influxd.stop()
            outage_started = time.monotonic()
            spooled = wait_until(
                lambda: ingester.spool.stats().values > 0 and ingester.spool.stats(), 15,
                "values to go to the spool while InfluxDB is down",
            )
            assert not ingester.status.store_available
            time.sleep(max(0.0, 30 - (time.monotonic() - outage_started)))
            status = read_status(ingester.config.status_path)
            assert status["spool"]["values"] > spooled.values  # still spooling, visible
            assert status["spool"]["oldest_age_s"] > 20
            influxd.start()
            sender.join(30)
            assert sender.sent == count
            pub.wait_all_acked(20)
            wait_until(lambda: ingester.status.messages >= count and not len(ingester.spool),
                       30, "every message stored and the spool replayed")
            assert ingester.status.store_available
            assert ingester.status.values_spooled > 0
        assert_sent_equals_stored(store, inst, count)
    finally:
        pub.close()
        store.close()
        proxy.stop()
        influxd.cleanup()


def test_broker_restart_mid_stream(tmp_path, influxdb, session_factory):
    _, inst, registry = private_config(tmp_path)
    broker = PrivateMosquitto(tmp_path / "mosquitto").start()
    store = InfluxStore(influxdb.url, influxdb.token, influxdb.org, influxdb.bucket,
                        influxdb.query_url)
    url = f"mqtt://{broker.host}:{broker.port}"
    ingester = ingester_for(tmp_path, url, registry, [f"recyclab/v1/{inst}/+"], store,
                            session_factory)
    count = 1500
    pub = Publisher(broker.host, broker.port)
    try:
        with IngesterThread(ingester):
            sender = SteadyPublisher(pub, f"recyclab/v1/{inst}/main", count, 250.0)
            sender.start()
            time.sleep(2)
            broker.stop()
            wait_until(lambda: not ingester.status.broker_connected, 5, "ingester to notice")
            time.sleep(2)
            broker.start()
            sender.join(30)
            pub.wait_all_acked(30)
            wait_until(lambda: ingester.status.broker_connected, 15, "ingester to reconnect")
            wait_until(lambda: len(store.raw(inst, "temp_c", T0, T0 + timedelta(days=1)))
                       >= count, 30, "every value stored", interval=0.5)
        assert_sent_equals_stored(store, inst, count)
    finally:
        pub.close()
        store.close()
        broker.stop()


def test_ingester_sigkilled_mid_stream_and_restarted(tmp_path, database_url):
    cdir, inst, _ = private_config(tmp_path)
    broker = PrivateMosquitto(tmp_path / "mosquitto").start()
    status_file = tmp_path / "var" / "ingest-status.json"
    env = ingester_env(cdir, tmp_path, database_url)
    args = ["--broker-url", f"mqtt://{broker.host}:{broker.port}", "--client-id",
            f"ingest-{uuid.uuid4().hex[:8]}", "--topic", f"recyclab/v1/{inst}/+"]
    ingester = IngesterProcess(args, env, tmp_path / "ingester.log").start()
    count = 3000
    pub = Publisher(broker.host, broker.port)
    try:
        wait_until(lambda: (s := read_status(status_file)) and s["broker_connected"], 20,
                   "the ingester subprocess to connect")
        sender = SteadyPublisher(pub, f"recyclab/v1/{inst}/main", count, 300.0)
        sender.start()
        wait_until(lambda: read_status(status_file)["messages_total"] > 300, 10,
                   "the ingester to be mid-stream")
        ingester.kill()  # SIGKILL: no goodbye, unacked messages stay with the broker
        time.sleep(1.5)
        status_file.unlink()
        ingester.start()
        sender.join(30)
        pub.wait_all_acked(30)
        store = SQLiteStore(tmp_path / "timeseries.db")
        wait_until(lambda: len(store.raw(inst, "pressure_bar", T0, T0 + timedelta(days=1)))
                   >= count, 40, "every value stored after the restart", interval=0.5)
        time.sleep(1)  # let late redeliveries land: they must not add anything
        assert_sent_equals_stored(store, inst, count)
        store.close()
    finally:
        pub.close()
        ingester.stop()
        broker.stop()
