"""A process engineer edits the registry (a new sensor, a narrower range) and sends the running
ingester SIGHUP, as with Telegraf: the change applies from the next batch on, with no restart
and no message lost or handled twice; the LIMS's sensors, which the web shows, follow. A registry that does not load is refused, and the one
in use stays."""

from __future__ import annotations

import signal
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ingest.status import read_status
from ingest.store.sqlite_store import SQLiteStore
from lims.kernel.models import Installation, Sensor
from lims.kernel.models.process import IngestReject
from tests.ingest.support import (
    T0_MS,
    IngesterProcess,
    Publisher,
    forget_session,
    ingester_env,
    json_message,
    private_config,
    wait_until,
)

pytestmark = [pytest.mark.mqtt, pytest.mark.timeout(120)]

T0 = datetime.fromtimestamp(T0_MS / 1000, UTC)
FAR = T0 + timedelta(days=1)
FLOW_SENSOR = """
[[installation.sensor]]
key = "flow_m3h"
name = "flow"
unit = "m3/h"
range = [0, 1000]
"""


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sighup_reloads_the_registry_without_a_restart_or_a_lost_message(
    tmp_path, mqtt_broker, database_url, session_factory
):
    cdir, inst, _ = private_config(tmp_path)
    status_file = tmp_path / "var" / "ingest-status.json"
    log_path = tmp_path / "ingester.log"
    env = ingester_env(cdir, tmp_path, database_url)
    client_id = f"ingest-{uuid.uuid4().hex[:8]}"
    args = ["--broker-url", mqtt_broker.url, "--client-id", client_id,
            "--topic", f"recyclab/v1/{inst}/+", "--status-interval-ms", "200"]
    ingester = IngesterProcess(args, env, log_path).start()
    topic = f"recyclab/v1/{inst}/main"
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)

    def send(seqs: range) -> None:
        for seq in seqs:
            pub.publish(topic, json_message(seq, {"pressure_bar": 60.0, "flow_m3h": float(seq)}))

    def handled(n: int) -> bool:
        status = read_status(status_file)
        return bool(status) and status["messages_total"] >= n

    try:
        wait_until(lambda: (s := read_status(status_file)) and s["broker_connected"], 20,
                   "the ingester to connect")
        pid = ingester.process.pid
        send(range(0, 25))
        wait_until(lambda: handled(25), 15, "the first messages handled")
        registry = cdir / "installations.toml"
        good = registry.read_text()
        registry.write_text(good + "[[installation.sensor]]\nkey = ")  # saved half-edited
        ingester.process.send_signal(signal.SIGHUP)
        wait_until(lambda: "event=registry_reload_failed" in log_path.read_text(), 15,
                   "the ingester to refuse the broken registry")
        send(range(25, 50))  # judged by the registry in use
        wait_until(lambda: handled(50), 15, "the messages after the failed reload handled")
        registry.write_text(good.replace("range = [0, 600]", "range = [0, 50]") + FLOW_SENSOR)
        during = threading.Thread(target=send, args=(range(50, 550),))
        during.start()  # the reload lands mid-stream
        ingester.process.send_signal(signal.SIGHUP)
        wait_until(lambda: "event=registry_reloaded" in log_path.read_text(), 15,
                   "the ingester to reload its registry")
        # The web reads the same registry from the LIMS: the dashboard shows the new sensor and
        # the charts draw the new range without anyone running `recyclab seed`.
        with session_factory() as s:
            ranges = dict(s.execute(select(Sensor.key, Sensor.range_max).join(Installation)
                                    .where(Installation.key == inst)).all())
        assert ranges == {"temp_c": 400, "pressure_bar": 50, "flow_m3h": 1000}
        during.join(30)
        send(range(550, 600))
        pub.wait_all_acked(15)
        wait_until(lambda: handled(600), 20, "every message handled")
        assert ingester.process.poll() is None and read_status(status_file)["pid"] == pid

        store = SQLiteStore(tmp_path / "timeseries.db")
        flow = {round(p.value) for p in store.raw(inst, "flow_m3h", T0, FAR)}
        pressure = {round((p.ts - T0).total_seconds() * 1000)
                    for p in store.raw(inst, "pressure_bar", T0, FAR)}
        store.close()
        with session_factory() as s:
            rejects = dict(s.execute(select(IngestReject.reason, func.count())
                                     .group_by(IngestReject.reason)).all())
        # before the reload: no such sensor, and 60 bar was in range; after it, the reverse
        assert flow.isdisjoint(range(50)) and flow >= set(range(550, 600))
        assert pressure >= set(range(50)) and pressure.isdisjoint(range(550, 600))
        # each value once: stored, or rejected under the registry of its batch
        assert rejects == {"unknown_sensor": 600 - len(flow), "out_of_range": 600 - len(pressure)}
        # one registry per batch: the flow of a message is stored exactly when its pressure
        # is rejected
        assert flow == set(range(600)) - pressure
    finally:
        pub.close()
        ingester.stop()
        forget_session(mqtt_broker.url, client_id)
