"""Alarms at their edges, through the broker: a device clock that jumps ahead, a message
that comes again after the ingester restarted, readings sent newest first."""

from __future__ import annotations

import uuid
from datetime import timedelta

import orjson
import pytest
from sqlalchemy import select

from ingest.alarms import AlarmTracker
from ingest.records import LimsRecorder
from ingest.service import IngestConfig, Ingester
from ingest.store.base import to_ns
from ingest.store.sqlite_store import SQLiteStore
from ingest.validate import Validator
from lims.kernel.clock import utcnow
from lims.kernel.models.process import AlarmEvent
from tests.ingest.support import IngesterThread, Publisher, private_config, wait_until

pytestmark = [
    pytest.mark.mqtt,
    pytest.mark.timeout(60),
    pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True),
]


def make_ingester(tmp_path, broker, registry, topic, store, session_factory) -> Ingester:
    config = IngestConfig(
        broker_url=broker.url, client_id=f"ingest-{uuid.uuid4().hex[:10]}", topics=(topic,),
        spool_path=tmp_path / "spool.db", status_path=tmp_path / "var" / "status.json",
    )
    return Ingester(config, store, LimsRecorder(session_factory, AlarmTracker(registry)),
                    Validator(registry))


def readings(*pairs) -> bytes:
    """One JSON message holding (time, temp_c) readings."""
    return orjson.dumps([{"ts": to_ns(t) // 10**6, "values": {"temp_c": v}} for t, v in pairs])


def alarms(session_factory) -> list[AlarmEvent]:
    with session_factory() as s:
        return list(s.scalars(select(AlarmEvent).order_by(AlarmEvent.id)))


def test_one_reading_stamped_hours_ahead_does_not_silence_the_alarms_after_it(
    tmp_path, mqtt_broker, session_factory
):
    """A device's clock glitches once: a normal reading comes stamped 20 h ahead (inside the
    accepted window, so it is stored). Its next readings carry the right time again, and the
    temperature goes beyond the high limit: that alarm must open, not wait 20 h for the
    clock to catch up with the one bad stamp."""
    _, inst, reg = private_config(tmp_path)
    topic = f"recyclab/v1/{inst}/main"
    store = SQLiteStore(tmp_path / "ts.db")
    ing = make_ingester(tmp_path, mqtt_broker, reg, topic, store, session_factory)
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    now = utcnow()
    try:
        with IngesterThread(ing):
            pub.publish(topic, readings((now + timedelta(hours=20), 200.0)))
            pub.wait_all_acked(10)
            wait_until(lambda: ing.status.messages >= 1, 15, "the glitched message handled")
            # The right time again, once the glitched reading was handled. (Had both come in one
            # batch more than 1 s after `now`, the glitch would count as of the batch's arrival,
            # after the 300: the batch keeps no arrival order. Not fixed yet.)
            now = utcnow()
            pub.publish(topic, readings((now, 200.0), (now + timedelta(seconds=1), 300.0)))
            pub.wait_all_acked(10)
            wait_until(lambda: ing.status.messages >= 2, 15, "both messages handled")
        assert ing.status.values_stored == 3  # the glitched reading is stored, as accepted
        (alarm,) = alarms(session_factory)
        assert (alarm.sensor, alarm.kind, alarm.peak_value, alarm.ended_at) == (
            "temp_c", "high", 300.0, None)
    finally:
        pub.close()
        store.close()


def test_a_message_sent_again_after_a_restart_does_not_repeat_its_alarm(
    tmp_path, mqtt_broker, session_factory
):
    """A message in which the temperature goes beyond the limit and back opens and closes
    one alarm. The device did not get the broker's acknowledgement and sends the message
    again, after the ingester restarted: it is the same alarm, not a second one."""
    _, inst, reg = private_config(tmp_path)
    topic = f"recyclab/v1/{inst}/main"
    store = SQLiteStore(tmp_path / "ts.db")
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    t0 = utcnow() - timedelta(minutes=5)
    message = readings((t0, 300.0), (t0 + timedelta(seconds=1), 200.0))
    try:
        for run in (1, 2):
            ing = make_ingester(tmp_path, mqtt_broker, reg, topic, store, session_factory)
            with IngesterThread(ing):
                pub.publish(topic, message)
                pub.wait_all_acked(10)
                wait_until(lambda ing=ing: ing.status.messages >= 1, 15, f"run {run} handled it")
        (alarm,) = alarms(session_factory)
        assert (alarm.kind, alarm.peak_value) == ("high", 300.0)
        assert alarm.ended_at is not None
    finally:
        pub.close()
        store.close()


def test_readings_sent_newest_first_still_open_and_close_their_alarm(
    tmp_path, mqtt_broker, session_factory
):
    """A gateway forwards what it buffered during a network outage in one message, newest
    reading first. The temperature was beyond the high limit at the older reading and back
    to normal at the newer one: that alarm happened, and is recorded from its start to its
    end."""
    _, inst, reg = private_config(tmp_path)
    topic = f"recyclab/v1/{inst}/main"
    store = SQLiteStore(tmp_path / "ts.db")
    ing = make_ingester(tmp_path, mqtt_broker, reg, topic, store, session_factory)
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    t0 = utcnow().replace(microsecond=0) - timedelta(minutes=5)
    try:
        with IngesterThread(ing):
            pub.publish(topic, readings((t0 + timedelta(seconds=2), 200.0),
                                        (t0 + timedelta(seconds=1), 280.0),
                                        (t0, 300.0)))
            pub.wait_all_acked(10)
            wait_until(lambda: ing.status.messages >= 1, 15, "the message handled")
        (alarm,) = alarms(session_factory)
        assert (alarm.kind, alarm.peak_value, alarm.started_at, alarm.ended_at) == (
            "high", 300.0, t0, t0 + timedelta(seconds=2))
    finally:
        pub.close()
        store.close()


def test_an_alarm_of_a_sensor_whose_limits_were_removed_ends_at_the_next_start(
    tmp_path, mqtt_broker, session_factory
):
    """pressure_bar had a high limit and was beyond it when the ingester stopped; the limit
    has since been taken out of the registry. No value can end that alarm any more, and it
    would stay on the active list for good: it ends when the ingester starts without it."""
    _, inst, reg = private_config(tmp_path)
    started = utcnow() - timedelta(hours=1)
    with session_factory.begin() as s:
        s.add(AlarmEvent(installation=inst, sensor="pressure_bar", kind="high", limit=500.0,
                         started_at=started, peak_value=550.0))
    store = SQLiteStore(tmp_path / "ts.db")
    ing = make_ingester(tmp_path, mqtt_broker, reg, f"recyclab/v1/{inst}/main", store,
                        session_factory)
    try:
        with IngesterThread(ing):
            pass
        (alarm,) = alarms(session_factory)
        assert alarm.ended_at is not None and alarm.ended_at >= started
    finally:
        store.close()
