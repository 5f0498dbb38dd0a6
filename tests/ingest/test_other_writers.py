"""Story: an operator starts a second ingester without a shared group (by mistake, or to try a
setting) while the first runs, both writing one InfluxDB. A value once stored, which a lot
certificate may quote, must keep its value whichever of them hears another one later."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ingest.heartbeat import Heartbeat, registered_writer
from ingest.status import IngestStatus
from ingest.store.base import to_ns
from ingest.store.influx_store import InfluxStore
from lims.process.ingesters import ingesters
from tests.ingest.support import IngesterThread, Publisher, json_message, private_config, wait_until
from tests.ingest.test_poison_messages import T0, make_ingester


def _sole_ingester_and_other_store(tmp_path, mqtt_broker, influxdb, session_factory):
    """An ingester whose store is its series' sole writer, and a second store (not)."""
    _, inst, reg = private_config(tmp_path)
    topic = f"recyclab/v1/{inst}/main"
    store = InfluxStore(influxdb.url, influxdb.token, influxdb.org, influxdb.bucket,
                        influxdb.query_url, sole_writer=True)
    other = InfluxStore(influxdb.url, influxdb.token, influxdb.org, influxdb.bucket,
                        influxdb.query_url)
    ing = make_ingester(tmp_path, mqtt_broker.url, reg, topic, store, session_factory,
                        status_interval_s=0.2)
    return inst, topic, store, other, ing


@pytest.mark.mqtt
@pytest.mark.influx
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_ingester_with_another_one_running_never_replaces_a_value_the_other_stored(
    tmp_path, mqtt_broker, influxdb, session_factory
):
    """`recyclab ingest` without --shared-group opened its store as the series' sole writer:
    it read each series' newest point once and wrote anything newer without reading. Another
    live ingester (its heartbeat in the LIMS database) stores 5.0 at a time past that mark;
    this one then hears 6.0 for the same time. 5.0 must stay, and 6.0 be a conflicting_value
    reject, as when both values come to one ingester."""
    # As `recyclab ingest` (no shared group) opened its store before this fix.
    inst, topic, store, other, ing = _sole_ingester_and_other_store(
        tmp_path, mqtt_broker, influxdb, session_factory)
    Heartbeat(IngestStatus(), session_factory, "ingest-other").beat("running")
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    try:
        with IngesterThread(ing):
            pub.publish(topic, json_message(0, {"pressure_bar": 0.0}))
            wait_until(lambda: ing.status.messages >= 1, 10, "the first value handled")
            other.write_rows([(inst, "pressure_bar", to_ns(T0) + 5_000_000, 5.0)])
            pub.publish(topic, json_message(5, {"pressure_bar": 6.0}))
            wait_until(lambda: ing.status.messages >= 2, 10, "the second value handled")
            # The other one stops, having stored 7.0 last: this one is the sole writer again,
            # and takes each series' newest point anew, not the one it knew before.
            other.write_rows([(inst, "pressure_bar", to_ns(T0) + 7_000_000, 7.0)])
            Heartbeat(IngestStatus(), session_factory, "ingest-other").beat("stopped")
            wait_until(lambda: store._newest is not None, 5, "the sole writer again")
            pub.publish(topic, json_message(7, {"pressure_bar": 8.0}))
            wait_until(lambda: ing.status.messages >= 3, 10, "the third value handled")
        points = store.raw(inst, "pressure_bar", T0, T0 + timedelta(seconds=1))
        assert [p.value for p in points] == [0.0, 5.0, 7.0]
        assert ing.status.rejects == {"conflicting_value": 2}
    finally:
        pub.close()
        store.close()
        other.close()


@pytest.mark.mqtt
@pytest.mark.influx
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_ingester_never_replaces_a_value_recyclab_simulate_offline_stored_while_it_runs(
    tmp_path, mqtt_broker, influxdb, session_factory
):
    """`recyclab simulate --offline` writes straight into the store, no ingester. While it
    runs, an ingester alone in the heartbeat table wrote anything newer than each series'
    newest point it knew without reading first, so a value the simulation had stored at that
    time was silently replaced. The offline writer registers as a writer as ingesters do."""
    # the offline store as `recyclab simulate --offline` opens it (open_store)
    inst, topic, store, offline, ing = _sole_ingester_and_other_store(
        tmp_path, mqtt_broker, influxdb, session_factory)
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    try:
        with IngesterThread(ing):
            pub.publish(topic, json_message(0, {"pressure_bar": 0.0}))
            wait_until(lambda: ing.status.messages >= 1, 10, "the first value handled")
            wait_until(lambda: store._newest, 5, "the ingester following its series")
            with registered_writer(session_factory, "simulate-offline"):
                offline.write_rows([(inst, "pressure_bar", to_ns(T0) + 5_000_000, 5.0)])
                pub.publish(topic, json_message(5, {"pressure_bar": 6.0}))
                wait_until(lambda: ing.status.messages >= 2, 10, "the second value handled")
                with session_factory() as s:  # a writer to the others, no ingester to the web
                    assert [i.ingester for i in ingesters(s)] == [ing.config.client_id]
                    assert {i.ingester for i in ingesters(s, writers=True)} == {
                        ing.config.client_id, "simulate-offline"}
            with session_factory() as s:
                assert [i.ingester for i in ingesters(s, writers=True)] == [ing.config.client_id]
        points = store.raw(inst, "pressure_bar", T0, T0 + timedelta(seconds=1))
        assert [p.value for p in points] == [0.0, 5.0]
        assert ing.status.rejects == {"conflicting_value": 1}
    finally:
        pub.close()
        store.close()
        offline.close()
