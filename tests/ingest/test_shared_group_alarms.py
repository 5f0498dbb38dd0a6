"""Two ingesters split one shared subscription, so the readings of one sensor are split across
both: the alarms they record together are the ones a single ingester records, one event from
the first reading beyond the limit to the first one back within it, with the peak of all."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta

import pytest

from ingest.alarms import AlarmTracker
from ingest.records import LimsRecorder
from ingest.service import IngestConfig, Ingester
from ingest.store.sqlite_store import SQLiteStore
from ingest.validate import Validator
from lims.kernel.clock import utcnow
from tests.ingest.support import IngesterThread, Publisher, private_config, wait_until
from tests.ingest.test_alarm_edges import alarms, readings

pytestmark = [
    pytest.mark.mqtt,
    pytest.mark.timeout(90),
    pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True),
]

# temp_c's high limit is 250: 20 readings within it, 20 beyond it (peak 330), 20 back within.
VALUES = [200.0] * 20 + [260.0 + (i * 7) % 71 for i in range(20)] + [200.0] * 20
PEAK = max(VALUES)


def member(tmp_path, broker, registry, topic, group, store, session_factory, name,
           **options) -> Ingester:
    config = IngestConfig(
        broker_url=broker.url, client_id=f"ingest-{uuid.uuid4().hex[:10]}", topics=(topic,),
        shared_group=group, spool_path=tmp_path / name / "spool.db",
        status_path=tmp_path / name / "status.json", **options,
    )
    return Ingester(config, store, LimsRecorder(session_factory, AlarmTracker(registry)),
                    Validator(registry))


def test_two_members_of_a_shared_group_record_one_alarm_as_one_ingester_would(
    tmp_path, mqtt_broker, session_factory
):
    _, inst, registry = private_config(tmp_path)
    topic, group = f"recyclab/v1/{inst}/main", f"grp{uuid.uuid4().hex[:6]}"
    store = SQLiteStore(tmp_path / "ts.db")
    first, second = (member(tmp_path, mqtt_broker, registry, topic, group, store,
                            session_factory, name) for name in ("a", "b"))
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    at = times()
    try:
        with IngesterThread(first), IngesterThread(second):
            send(pub, topic, at, range(len(VALUES)))  # the broker hands them out in turn
            wait_until(lambda: first.status.messages + second.status.messages >= len(VALUES),
                       30, "every message handled")
        assert first.status.messages and second.status.messages  # both had a share
        assert recorded(session_factory) == [("high", at[20], at[40], PEAK)]
    finally:
        pub.close()
        store.close()


def test_a_member_that_joins_during_an_alarm_carries_on_the_same_event(
    tmp_path, mqtt_broker, session_factory
):
    """A replica is (re)started while the other holds an ongoing alarm: it takes that event
    over and ends it with the other, rather than ending or repeating it on its own."""
    _, inst, registry = private_config(tmp_path)
    topic, group = f"recyclab/v1/{inst}/main", f"grp{uuid.uuid4().hex[:6]}"
    store = SQLiteStore(tmp_path / "ts.db")
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    at = times()
    try:
        first = member(tmp_path, mqtt_broker, registry, topic, group, store, session_factory, "a")
        with IngesterThread(first):
            send(pub, topic, at, range(25))  # the alarm began while `first` was alone
            wait_until(lambda: first.status.messages >= 25, 30, "the first part handled")
            second = member(tmp_path, mqtt_broker, registry, topic, group, store,
                            session_factory, "b")
            with IngesterThread(second):
                send(pub, topic, at, range(25, len(VALUES)))
                wait_until(lambda: first.status.messages + second.status.messages
                           >= len(VALUES), 30, "every message handled")
        assert second.status.messages  # it had a share
        assert recorded(session_factory) == [("high", at[20], at[40], PEAK)]
    finally:
        pub.close()
        store.close()


def test_the_member_left_ends_an_alarm_the_other_opened_and_can_no_longer_end(
    tmp_path, mqtt_broker, session_factory
):
    """The one reading beyond the limit went to one member, which was then stopped (scaled
    down): the other gets every later reading, all within the limit, and ends the event."""
    _, inst, registry = private_config(tmp_path)
    topic, group = f"recyclab/v1/{inst}/main", f"grp{uuid.uuid4().hex[:6]}"
    store = SQLiteStore(tmp_path / "ts.db")
    members = [member(tmp_path, mqtt_broker, registry, topic, group, store, session_factory,
                      name, alarm_refresh_s=0.5) for name in ("a", "b")]
    threads = [IngesterThread(m) for m in members]
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    t0 = utcnow().replace(microsecond=0) - timedelta(minutes=10)
    try:
        for thread in threads:
            thread.__enter__()
        pub.publish(topic, readings((t0, 300.0)))
        opener = wait_until(lambda: next((m for m in members if m.status.messages), None), 15,
                            "one member to handle the reading beyond the limit")
        threads[members.index(opener)].__exit__(None, None, None)
        for i in range(1, 100):
            pub.publish(topic, readings((t0 + timedelta(seconds=i), 200.0)))
            if alarms(session_factory)[0].ended_at is not None:
                break
            time.sleep(0.1)
        (alarm,) = alarms(session_factory)
        assert alarm.started_at == t0 and alarm.ended_at is not None
    finally:
        for thread in threads:
            if thread.thread.is_alive():
                thread.__exit__(None, None, None)
        pub.close()
        store.close()


def times() -> list[datetime]:
    t0 = utcnow().replace(microsecond=0) - timedelta(minutes=10)
    return [t0 + timedelta(seconds=i) for i in range(len(VALUES))]


def send(pub: Publisher, topic: str, at: list[datetime], indexes: range) -> None:
    """One reading per message, all at once: both members are busy at the same time."""
    for i in indexes:
        pub.publish(topic, readings((at[i], VALUES[i])))
    pub.wait_all_acked(10)


def recorded(session_factory) -> list[tuple]:
    return [(a.kind, a.started_at, a.ended_at, a.peak_value) for a in alarms(session_factory)]
