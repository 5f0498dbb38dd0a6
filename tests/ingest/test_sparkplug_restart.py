"""Sparkplug B across an ingester restart: what an edge node sends by alias while the ingester
is away waits in its broker session, and is stored when it comes back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from ingest.alarms import AlarmTracker
from ingest.decoders import sparkplug_b_pb2 as pb
from ingest.records import LimsRecorder
from ingest.service import IngestConfig, Ingester
from ingest.store.sqlite_store import SQLiteStore
from ingest.validate import Validator
from lims.kernel.models.process import IngestReject
from tests.ingest.support import T0_MS, IngesterThread, Publisher, private_config, wait_until

pytestmark = [
    pytest.mark.mqtt,
    pytest.mark.timeout(60),
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

T0 = datetime.fromtimestamp(T0_MS / 1000, UTC)


def spb(seq: int, ts_ms: int, metric: dict) -> bytes:
    msg = pb.Payload(timestamp=ts_ms, seq=seq)
    msg.metrics.add(datatype=pb.Double, **metric)
    return msg.SerializeToString()


def test_data_by_alias_sent_while_the_ingester_was_away_is_stored_after_its_restart(
    tmp_path, mqtt_broker, session_factory
):
    _, inst, reg = private_config(tmp_path)
    group = f"g{uuid.uuid4().hex[:8]}"
    config = IngestConfig(
        broker_url=mqtt_broker.url, client_id=f"ingest-{uuid.uuid4().hex[:10]}",
        topics=(f"spBv1.0/{group}/#",), spool_path=tmp_path / "var" / "spool.db",
        status_path=tmp_path / "var" / "status.json",
    )
    store = SQLiteStore(tmp_path / "ts.db")
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)

    def ingester() -> Ingester:
        return Ingester(config, store, LimsRecorder(session_factory, AlarmTracker(reg)),
                        Validator(reg))

    try:
        first = ingester()
        with IngesterThread(first, keep_session=True):
            pub.publish(f"spBv1.0/{group}/NBIRTH/{inst}",
                        spb(0, T0_MS, {"name": "pressure_bar", "alias": 7, "double_value": 1.0}))
            pub.wait_all_acked(10)
            wait_until(lambda: first.status.messages >= 1, 15, "the BIRTH handled")
        # The ingester is away (an upgrade); the node goes on, by alias as Sparkplug has it.
        for seq in (1, 2):
            pub.publish(f"spBv1.0/{group}/NDATA/{inst}",
                        spb(seq, T0_MS + seq, {"alias": 7, "double_value": float(seq)}))
        pub.wait_all_acked(10)
        second = ingester()
        with IngesterThread(second):
            wait_until(lambda: second.status.messages >= 2, 15, "the waiting data handled")
        points = store.raw(inst, "pressure_bar", T0, T0 + timedelta(seconds=1))
        assert [p.value for p in points] == [1.0, 1.0, 2.0]
        with session_factory() as s:
            assert s.scalars(select(IngestReject.reason)).all() == []
    finally:
        pub.close()
        store.close()
