"""A member of a shared subscription that stops (scaled down, redeployed) strands nothing: the
rest of the group gets every message, also while that member's persistent session lives on."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ingest.alarms import AlarmTracker
from ingest.records import LimsRecorder
from ingest.service import IngestConfig, Ingester
from ingest.store.sqlite_store import SQLiteStore
from ingest.validate import Validator
from tests.ingest.support import (
    T0_MS,
    IngesterThread,
    Publisher,
    forget_session,
    json_message,
    private_config,
    wait_until,
)

pytestmark = pytest.mark.mqtt

T0 = datetime.fromtimestamp(T0_MS / 1000, UTC)


def test_a_stopping_member_hands_its_share_to_the_group(tmp_path, mqtt_broker, session_factory):
    _, inst, registry = private_config(tmp_path)
    topic, group = f"recyclab/v1/{inst}/main", f"grp{uuid.uuid4().hex[:6]}"
    store = SQLiteStore(tmp_path / "shared.db")
    members = [
        Ingester(
            IngestConfig(broker_url=mqtt_broker.url, client_id=f"ingest-{uuid.uuid4().hex[:10]}",
                         topics=(topic,), shared_group=group, spool_path=tmp_path / f"m{i}" / "spool.db",
                         status_path=tmp_path / f"m{i}" / "status.json"),
            store, LimsRecorder(session_factory, AlarmTracker(registry)), Validator(registry),
        )
        for i in range(2)
    ]
    count = 400
    pub = Publisher(mqtt_broker.host, mqtt_broker.port)
    leaving = IngesterThread(members[1], keep_session=True)  # as a stopped replica's session
    try:
        with IngesterThread(members[0]):
            leaving.__enter__()
            sent = 0

            def publish(n: int) -> None:
                nonlocal sent
                for seq in range(sent, sent + n):
                    pub.publish(topic, json_message(seq, {"pressure_bar": float(seq)}))
                sent += n

            publish(count // 2)
            # On a loaded machine its subscription can come after that half: it must have had a
            # share before it stops, or the test shows nothing.
            deadline = time.monotonic() + 30
            while members[1].status.messages == 0:
                assert time.monotonic() < deadline, "the second member never had a share"
                publish(10)
                time.sleep(0.05)
            leaving.__exit__(None, None, None)  # stopped while its share is still arriving
            publish(count // 2)
            pub.wait_all_acked(60)
            count = sent

            def stored() -> int:
                return len(store.raw(inst, "pressure_bar", T0, T0 + timedelta(days=1)))

            wait_until(lambda: stored() == count, 60, f"all {count} values stored (not {stored()})")
        assert members[1].status.messages > 0  # it really had a share
    finally:
        pub.close()
        store.close()
        forget_session(mqtt_broker.url, members[1].config.client_id)
