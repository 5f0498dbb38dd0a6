"""What a broker crash may lose: with config/mosquitto.conf, nothing the broker acknowledged."""

from __future__ import annotations

import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.ingest.support import PrivateMosquitto, Publisher, wait_until

pytestmark = [pytest.mark.mqtt, pytest.mark.timeout(120)]


def session(broker: PrivateMosquitto, client_id: str, received: set[bytes]) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.on_message = lambda _c, _u, m: received.add(m.payload)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    client.connect(broker.host, broker.port, clean_start=False, properties=props)
    return client


def queue_then_crash(tmp_path, count: int, extra_config: str = "") -> set[bytes]:
    """Queue `count` acknowledged messages for an offline persistent session, SIGKILL the
    broker (no save on the way out), restart it: what the session gets afterwards."""
    broker = PrivateMosquitto(tmp_path / "mosquitto", extra_config).start()
    client_id = f"ingest-{uuid.uuid4().hex[:8]}"
    topic = f"recyclab/v1/t{uuid.uuid4().hex[:8]}/main"
    received: set[bytes] = set()
    sub = session(broker, client_id, received)
    sub.loop_start()
    sub.subscribe(topic, qos=1)
    wait_until(lambda: sub.is_connected(), 5, "the subscriber to connect")
    sub.disconnect()  # offline: from now on the broker queues for this session
    sub.loop_stop()
    pub = Publisher(broker.host, broker.port)
    try:
        for n in range(count):
            pub.publish(topic, str(n).encode())
        pub.wait_all_acked(30)
        pub.close()
        broker.process.kill()
        broker.process.wait(10)
        broker.start()
        sub = session(broker, client_id, received)
        sub.loop_start()
        try:
            wait_until(lambda: len(received) >= count, 5, "every message after the crash")
        except AssertionError:
            pass  # the caller says how many may be missing
        sub.disconnect()
        sub.loop_stop()
        assert received <= {str(n).encode() for n in range(count)}
        return received
    finally:
        broker.stop()


def test_a_broker_crash_loses_at_most_the_autosave_interval(tmp_path):
    """config/mosquitto.conf saves after every 100 changes: a crash loses at most the last
    99 acknowledged messages. The time-based autosave_interval 60 lost all 2,000 here."""
    count = 2000
    received = queue_then_crash(tmp_path, count)
    assert len(received) >= count - 99, f"{count - len(received)} of {count} lost"


def test_the_setting_that_loses_nothing(tmp_path):
    """autosave_interval 1 with autosave_on_changes, as config/mosquitto.conf and the README
    give it: every acknowledged message survives the crash."""
    count = 300
    received = queue_then_crash(tmp_path, count,
                                "autosave_on_changes true\nautosave_interval 1\n")
    assert len(received) == count
