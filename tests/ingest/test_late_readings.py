"""Story: a gateway that was offline forwards a reading from hours ago together with the live
ones. The stream must go on as before, into InfluxDB, whatever lies stored between the two."""

from __future__ import annotations

import uuid
from datetime import timedelta

import orjson
import pytest

from ingest.store.base import to_ns
from ingest.store.influx_store import InfluxStore
from tests.ingest.support import (
    T0_MS,
    IngesterThread,
    Publisher,
    json_message,
    private_config,
    wait_until,
)
from tests.ingest.test_poison_messages import T0, make_ingester

# The day before T0, stored: 300,000 points (a real line stores 11 sensors a second, about a
# million a day), and the store timeout scaled down alike (5 s by default).
STORED_PER_SENSOR = 150_000


@pytest.mark.mqtt
@pytest.mark.influx
@pytest.mark.timeout(120)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_late_reading_among_live_ones_does_not_stall_the_stream_in_the_spool(
    tmp_path, mqtt_broker, influxdb, session_factory
):
    """One message holds a reading from 23 hours ago and a live one; 20 live messages follow.
    A member of a shared group reads what the store holds before it writes (another member
    may have stored the same time). That read must cover the times of the rows, not every
    point of the installation from the oldest row to the newest: a day of points takes
    longer than the store timeout, so the write counted as failed, went to the spool, and
    the spool's replay, which merges the late row with everything after it, failed the same
    way for as long as the ingester ran: the store "down", the spool growing."""
    _, inst, reg = private_config(tmp_path)
    topic = f"recyclab/v1/{inst}/main"
    filler = InfluxStore(influxdb.url, influxdb.token, influxdb.org, influxdb.bucket,
                         influxdb.query_url, sole_writer=True)
    step = 86_400 * 10**9 // STORED_PER_SENSOR
    day_before = to_ns(T0 - timedelta(days=1))
    rows = [(inst, sensor, day_before + k * step, 1.0)
            for k in range(STORED_PER_SENSOR) for sensor in ("temp_c", "pressure_bar")]
    for i in range(0, len(rows), 50_000):
        filler.write_rows(rows[i : i + 50_000])
    filler.close()
    store = InfluxStore(influxdb.url, influxdb.token, influxdb.org, influxdb.bucket,
                        influxdb.query_url, timeout_s=10)
    ing = make_ingester(tmp_path, mqtt_broker.url, reg, topic, store, session_factory,
                        shared_group=f"g{uuid.uuid4().hex[:8]}", store_timeout_s=1.0,
                        retry_max_s=0.5)
    late_ms = T0_MS - 23 * 3_600_000 + 7  # between two stored points
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    count = 20
    try:
        with IngesterThread(ing):
            pub.publish(topic, orjson.dumps([
                {"ts": late_ms, "values": {"pressure_bar": 2.5}},
                {"ts": T0_MS, "values": {"pressure_bar": 3.5}},
            ]))
            for seq in range(1, count + 1):
                pub.publish(topic, json_message(seq, {"pressure_bar": float(seq)}))
            pub.wait_all_acked(10)
            wait_until(lambda: ing.status.messages >= count + 1 and not len(ing.spool)
                       and ing.status.store_available, 30,
                       "every message stored and nothing left in the spool")
        live = store.raw(inst, "pressure_bar", T0, T0 + timedelta(seconds=1))
        assert [p.value for p in live] == [3.5] + [float(s) for s in range(1, count + 1)]
        late = T0 - timedelta(hours=23) + timedelta(milliseconds=7)
        assert [p.value for p in store.raw(inst, "pressure_bar", late,
                                           late + timedelta(milliseconds=1))] == [2.5]
        assert not ing.status.rejects
    finally:
        pub.close()
        store.close()
