"""The demo's live view is only live if the simulated pilot lines stamp each reading with the
moment it is published. With `--speedup 1` a process engineer watching the dashboard must see
readings of a second ago, whatever second of the minute the simulator was started at: the
live view calls a sensor stale after 30 s."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner

from analytics.cli import simulate_command
from lims.kernel.clock import running_from, utcnow
from tests.ingest.support import wait_until

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_live_readings_are_stamped_when_they_are_published(mqtt_broker, database_url, seeded, tmp_path, monkeypatch):
    monkeypatch.setenv("RECYCLAB_DATABASE_URL", database_url)
    monkeypatch.setenv("RECYCLAB_VAR_DIR", str(tmp_path / "var"))
    stream = f"live-{uuid.uuid4().hex[:8]}"
    arrivals: list[tuple[datetime, datetime]] = []
    got = threading.Lock()

    def on_message(_client, _userdata, msg) -> None:
        stamped = datetime.fromtimestamp(json.loads(msg.payload)["ts"] / 1000, UTC)
        with got:
            arrivals.append((utcnow(), stamped))

    watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"watch-{stream}")
    watcher.on_message = on_message
    watcher.connect(mqtt_broker.host, mqtt_broker.port)
    watcher.subscribe(f"recyclab/v1/ntk-wash1/{stream}", qos=1)
    watcher.loop_start()
    # Late in its minute: a start rounded down to the minute would stamp every reading ~50 s old.
    late_in_the_minute = datetime.now(UTC).replace(second=50, microsecond=0) + timedelta(hours=1)
    try:
        with running_from(late_in_the_minute):
            result = CliRunner().invoke(simulate_command, [
                "--broker-url", mqtt_broker.url, "--speedup", "1", "--rate", "1", "--running-start",
                "--duration", "3", "--no-lims", "--installations", "ntk-wash1", "--stream", stream,
            ])
            assert result.exit_code == 0, result.output
            wait_until(lambda: len(arrivals) >= 2, 10, "the simulated readings")
    finally:
        watcher.loop_stop()
        watcher.disconnect()

    ages = [(arrived - stamped).total_seconds() for arrived, stamped in arrivals]
    assert all(-1.0 < age < 2.0 for age in ages), f"readings arrived this many seconds after their stamp: {ages}"
