"""Two ingesters split one shared subscription, as docker-compose runs them, and a Sparkplug B
edge node sends its BIRTH once and then DATA by alias: each of them must read that DATA."""

from __future__ import annotations

import uuid
from datetime import timedelta

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from ingest.decoders import sparkplug_b_pb2 as pb
from ingest.store.sqlite_store import SQLiteStore
from lims.kernel.models.process import IngestReject
from tests.ingest.support import T0_MS, IngesterThread, Publisher, private_config, wait_until
from tests.ingest.test_shared_group_alarms import member
from tests.ingest.test_sparkplug_restart import T0, spb


def birth_with_a_sensor_not_registered() -> bytes:
    msg = pb.Payload(timestamp=T0_MS, seq=0)
    msg.metrics.add(name="pressure_bar", alias=7, datatype=pb.Double, double_value=0.0)
    msg.metrics.add(name="humidity_pct", alias=8, datatype=pb.Double, double_value=40.0)
    return msg.SerializeToString()


class CommandWatcher:
    """Collects the NCMD messages (rebirth requests) sent to the group's edge nodes."""

    def __init__(self, broker, group: str) -> None:
        self.seen: list[str] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = lambda _c, _u, msg: self.seen.append(msg.topic)
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(f"spBv1.0/{group}/NCMD/#")
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

pytestmark = [
    pytest.mark.mqtt,
    pytest.mark.timeout(60),
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]


def test_members_of_a_shared_group_each_read_data_sent_by_alias(
    tmp_path, mqtt_broker, session_factory
):
    """The broker hands the edge node's messages to the members in turn: the BIRTH, which
    announces the aliases, reaches one of them. The other got DATA it could not read, rejected
    it as unknown_alias (acknowledged: lost) and asked for a rebirth, whose BIRTH again
    reached one member only. Every member must know every BIRTH, and so store every value;
    a BIRTH's reject is recorded once; and no member, seeing only its share of the sequence
    numbers, takes the others' share for a gap and asks the node for a rebirth (every 10 s,
    each member, for as long as the node sends)."""
    _, inst, registry = private_config(tmp_path)
    group = f"g{uuid.uuid4().hex[:8]}"
    topic, share = f"spBv1.0/{group}/#", f"grp{uuid.uuid4().hex[:6]}"
    store = SQLiteStore(tmp_path / "ts.db")
    first, second = (member(tmp_path, mqtt_broker, registry, topic, share, store,
                            session_factory, name) for name in ("a", "b"))
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    commands = CommandWatcher(mqtt_broker, group)
    count = 40

    def stored() -> list[float]:
        return [p.value for p in store.raw(inst, "pressure_bar", T0, T0 + timedelta(seconds=1))]

    try:
        with IngesterThread(first), IngesterThread(second):
            pub.publish(f"spBv1.0/{group}/NBIRTH/{inst}", birth_with_a_sensor_not_registered())
            for seq in range(1, count + 1):
                pub.publish(f"spBv1.0/{group}/NDATA/{inst}",
                            spb(seq, T0_MS + seq, {"alias": 7, "double_value": float(seq)}))
            pub.wait_all_acked(10)
            wait_until(lambda: len(stored()) > count, 20, "every value stored")
            # A rebirth request goes out before its batch is stored; this one comes after.
            pub.publish(f"spBv1.0/{group}/NCMD/end-of-test", b"")
            wait_until(lambda: commands.seen, 10, "the test's own command")
        assert first.status.messages > 1 and second.status.messages > 1  # both had a share
        assert stored() == [float(s) for s in range(count + 1)]
        with session_factory() as s:
            assert s.scalars(select(IngestReject.reason)).all() == ["unknown_sensor"]
        assert commands.seen == [f"spBv1.0/{group}/NCMD/end-of-test"]
    finally:
        commands.close()
        pub.close()
        store.close()
