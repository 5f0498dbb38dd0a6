"""The ingester tells the truth while it is stuck (hung store, stuck LIMS database), survives a
full disk by holding back, and needs only the files it really uses."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from ingest.alarms import AlarmTracker
from ingest.heartbeat import Heartbeat
from ingest.records import LimsRecorder
from ingest.service import IngestConfig, Ingester
from ingest.status import read_status
from ingest.store.influx_store import InfluxStore
from ingest.store.sqlite_store import SQLiteStore
from ingest.validate import Validator
from lims.process.ingesters import IngesterState, prometheus_text
from tests.ingest.support import (
    T0_MS,
    IngesterProcess,
    IngesterThread,
    Publisher,
    json_message,
    private_config,
    wait_until,
)
from tests.support.influx import PrivateInfluxd, V2WriteProxy, free_port

pytestmark = [pytest.mark.mqtt, pytest.mark.timeout(180)]

T0 = datetime.fromtimestamp(T0_MS / 1000, UTC)
FAR = T0 + timedelta(days=1)


def make_ingester(tmp_path, broker_url, registry, topic, store, session_factory, **kw):
    kw.setdefault("spool_path", tmp_path / "var" / "spool.db")
    kw.setdefault("status_path", tmp_path / "var" / "status.json")
    config = IngestConfig(broker_url=broker_url, client_id=f"ingest-{uuid.uuid4().hex[:10]}",
                          topics=(topic,), status_interval_s=0.2, retry_max_s=0.5, **kw)
    return Ingester(config, store, LimsRecorder(session_factory, AlarmTracker(registry)),
                    Validator(registry))


def publish(pub: Publisher, topic: str, seqs: range) -> None:
    for seq in seqs:
        pub.publish(topic, json_message(seq, {"temp_c": 200.0, "pressure_bar": float(seq % 600)}))


def small_disk(path, size: str, read_only: bool = False):
    """A tmpfs of the given size mounted at path (root only): a disk that really fills up."""
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    return path


def unmount(path) -> None:
    subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path) -> None:
    """Write a filler file until the disk says it is full."""
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass


# --- item 4: status during a stall ----------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_hung_store_times_out_to_the_spool_and_the_status_says_so(
    tmp_path, mqtt_broker, session_factory
):
    """InfluxDB stopped with SIGSTOP answers nothing (the connection stays open). Within the
    store timeout (default 5 s) the status file says store_available false, the batch goes
    to the spool and acks go on; the spool figures in the file are today's, not stale."""
    _, inst, reg = private_config(tmp_path)
    topic = f"recyclab/v1/{inst}/main"
    (tmp_path / "influxd").mkdir()
    influxd = PrivateInfluxd(tmp_path / "influxd").start()
    proxy = V2WriteProxy(influxd.url).start()
    influxd.create_database("process")
    store = InfluxStore(proxy.url, "t", "recyclab", "process", query_url=f"{influxd.url}/query")
    ing = make_ingester(tmp_path, mqtt_broker.url, reg, topic, store, session_factory)
    assert ing.config.store_timeout_s == 5.0
    status_path = ing.config.status_path
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    stopped = False
    try:
        with IngesterThread(ing):
            publish(pub, topic, range(20))
            wait_until(lambda: ing.status.values_stored == 40, 10, "the first values stored")
            os.kill(influxd.process.pid, signal.SIGSTOP)
            stopped = True
            hung_at = time.monotonic()
            publish(pub, topic, range(20, 120))
            status = wait_until(
                lambda: (s := read_status(status_path)) and not s["store_available"] and s,
                5 + 3, "the status file to say the store is unavailable")
            assert time.monotonic() - hung_at < 5 + 3
            wait_until(lambda: ing.status.messages >= 120, 10, "acks to go on (spooled)")
            publish(pub, topic, range(120, 150))
            wait_until(lambda: ing.status.messages >= 150, 10, "acks to go on (spooled)")
            spooled = ing.spool.stats().values
            assert spooled >= 2 * 30
            status = wait_until(
                lambda: (s := read_status(status_path)) and s["spool"]["values"] == spooled
                and s, 2, "the status file's spool figures to be current")
            assert not status["store_available"]
            assert status["last_store_write_age_s"] >= 4
            assert status["lag_s"] < 3  # nothing waits: all spooled and acknowledged
            os.kill(influxd.process.pid, signal.SIGCONT)
            stopped = False
            wait_until(lambda: not len(ing.spool) and ing.status.store_available, 40,
                       "the spool replayed once the store answers again")
        points = store.raw(inst, "pressure_bar", T0, FAR)
        assert [p.value for p in points] == [float(s) for s in range(150)]
    finally:
        if stopped:
            os.kill(influxd.process.pid, signal.SIGCONT)
        pub.close()
        store.close()
        proxy.stop()
        influxd.cleanup()


def test_a_stuck_lims_database_shows_as_lag(tmp_path, mqtt_broker, database_url,
                                            session_factory):
    """PostgreSQL holds the reject table locked: the batch with a reject cannot be recorded,
    so nothing is acknowledged. The status file's lag is the age of the oldest unacknowledged
    message and keeps growing, and the LIMS database shows as unavailable once the write
    has taken longer than the timeout; after the lock goes, both recover."""
    _, inst, reg = private_config(tmp_path)
    topic = f"recyclab/v1/{inst}/main"
    store = SQLiteStore(tmp_path / "ts.db")
    ing = make_ingester(tmp_path, mqtt_broker.url, reg, topic, store, session_factory,
                        store_timeout_s=2)
    status_path = ing.config.status_path
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    locker = session_factory()
    try:
        with IngesterThread(ing):
            publish(pub, topic, range(10))
            wait_until(lambda: ing.status.messages >= 10, 10, "the first messages")
            locker.execute(text("LOCK TABLE ingest_reject IN ACCESS EXCLUSIVE MODE"))
            pub.publish(topic, b'{"ts": ')  # malformed: a reject the writer has to record
            publish(pub, topic, range(10, 20))
            time.sleep(3.5)
            status = read_status(status_path)
            assert status["lag_s"] >= 3
            assert status["last_ack_age_s"] >= 3
            assert status["lims_available"] is False  # stuck for longer than the timeout
            assert ing.status.messages == 10
            locker.rollback()
            wait_until(lambda: ing.status.messages >= 21, 10, "the rest after the lock")
            status = wait_until(lambda: (s := read_status(status_path)) and s["lag_s"] < 1 and s,
                                5, "the lag to fall")
            assert status["lims_available"] is True
    finally:
        locker.close()
        pub.close()
        store.close()


# --- item 2: full disk -----------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_full_disk_holds_the_stream_back_and_it_resumes_by_itself(
    tmp_path, mqtt_broker, influxdb, session_factory
):
    """Store down, spool and status file on a small disk that fills up: the ingester does
    not crash; it stops acknowledging, stops reading, and says disk_full in the status file
    and the metrics. Space comes back: it goes on alone, and nothing was lost."""
    _, inst, reg = private_config(tmp_path)
    topic = f"recyclab/v1/{inst}/main"
    disk = small_disk(tmp_path / "disk", "2m")
    down = InfluxStore(f"http://127.0.0.1:{free_port()}", "t", "o", influxdb.bucket,
                       timeout_s=1)
    ing = make_ingester(tmp_path, mqtt_broker.url, reg, topic, down, session_factory,
                        spool_path=disk / "spool.db", status_path=disk / "status.json",
                        batch_values=100)
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    count = 3000
    try:
        with IngesterThread(ing):
            publish(pub, topic, range(20))
            wait_until(lambda: ing.spool.stats().values == 40, 10, "the first values spooled")
            wait_until(lambda: read_status(disk / "status.json"), 5, "a status file")
            fill(disk / "filler")
            publish(pub, topic, range(20, count))
            pub.wait_all_acked(20)
            status = wait_until(
                lambda: (s := read_status(disk / "status.json")) and s["disk_full"] and s, 15,
                "disk_full in the status file")
            assert status["reading_paused"] and status["spool"]["disk_full"]
            # /metrics shows it too: the heartbeat carries the status to the LIMS database.
            counters = Heartbeat(ing.status, None, "disk-test", 1.0).counters()
            now = datetime.now(UTC)
            beat = IngesterState("disk-test", "here", 1, now, now, now, 0.0, "running", counters)
            assert 'recyclab_ingest_disk_full{ingester="disk-test",host="here"} 1.0' in prometheus_text([beat])
            held = ing.status.messages
            time.sleep(1.5)
            assert ing.status.messages == held < count  # no acks while the disk is full
            assert not ing.failed
            (disk / "filler").unlink()
            wait_until(lambda: ing.status.messages >= count, 30, "the rest once space is back")
            wait_until(lambda: not read_status(disk / "status.json")["disk_full"], 5,
                       "disk_full to clear")
            assert ing.spool.stats().values == 2 * count  # everything durable, once
    finally:
        pub.close()
        down.close()
        unmount(disk)


# --- item 7: unusable var dir ---------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_influxdb_backend_needs_no_spool_file_until_it_spools(
    tmp_path, mqtt_broker, influxdb, session_factory
):
    _, inst, reg = private_config(tmp_path)
    topic = f"recyclab/v1/{inst}/main"
    (tmp_path / "not-a-dir").write_text("a file where the var dir should be")
    spool_path = tmp_path / "not-a-dir" / "spool.db"
    store = InfluxStore(influxdb.url, influxdb.token, influxdb.org, influxdb.bucket,
                        influxdb.query_url)
    ing = make_ingester(tmp_path, mqtt_broker.url, reg, topic, store, session_factory,
                        spool_path=spool_path)
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    try:
        with IngesterThread(ing):
            publish(pub, topic, range(30))
            wait_until(lambda: ing.status.messages >= 30, 10, "every message stored")
        assert len(store.raw(inst, "temp_c", T0, FAR)) == 30
        assert not ing.failed
    finally:
        pub.close()
        store.close()


def test_a_read_only_var_dir_is_named_in_the_error(tmp_path, database_url):
    """The SQLite store's file cannot be created in a read-only var dir: the ingester exits
    with an error that names the file, not a traceback of "unable to open database file"."""
    cdir, _, _ = private_config(tmp_path)
    var = small_disk(tmp_path / "ro-var", "1m", read_only=True)
    try:
        env = {"RECYCLAB_CONFIG_DIR": str(cdir), "RECYCLAB_VAR_DIR": str(var),
               "RECYCLAB_DATABASE_URL": database_url, "RECYCLAB_TIMESERIES_BACKEND": "sqlite"}
        proc = IngesterProcess(["--broker-url", "mqtt://127.0.0.1:1"], env,
                               tmp_path / "ingester.log").start()
        assert proc.process.wait(30) != 0
        out = (tmp_path / "ingester.log").read_text()
        assert str(var / "timeseries.db") in out, out
        assert "Traceback" not in out, out
    finally:
        unmount(var)
