"""`make run` is the whole system: broker, simulator, ingester and web app from one command."""

from __future__ import annotations

import html
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta

import pytest
import requests

from ingest.registry import load_registry
from ingest.store.sqlite_store import SQLiteStore
from lims.demo import Demo
from lims.kernel.clock import utcnow
from lims.kernel.settings import load_settings
from tests.support.influx import free_port
from tests.web.seed import seed_reference

pytestmark = pytest.mark.slow


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status
    except OSError:
        return 0


def _assert_the_lims_has_work_in_every_state(db_file, base: str) -> None:
    """Within the demo's first minute the LIMS holds lots, samples in several workflow states
    and a certified sample whose page links to its certificate (before, it stayed empty until
    the live simulator closed its first lot, an hour or more in)."""
    with sqlite3.connect(db_file) as db:
        lots = db.execute("SELECT count(*) FROM lot").fetchone()[0]
        states = dict(db.execute("SELECT state, count(*) FROM sample GROUP BY state").fetchall())
        certified = db.execute(
            "SELECT s.code, c.number FROM sample s JOIN certificate_sample cs ON cs.sample_id = s.id"
            " JOIN certificate c ON c.id = cs.certificate_id WHERE s.state = 'certified' LIMIT 1"
        ).fetchone()
    assert lots >= 5, lots
    assert {"registered", "received", "to_be_verified", "verified", "certified"} <= set(states), states
    assert certified, "no certified sample"
    code, number = certified
    web = requests.Session()
    form = web.get(f"{base}/login", timeout=5).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    web.post(f"{base}/login", data={"csrf_token": token, "username": "reviewer",
                                     "password": "demo-reviewer"}, timeout=5).raise_for_status()
    page = web.get(f"{base}/lab/samples/{code}", timeout=5)
    assert page.status_code == 200
    link = re.search(r'<a href="([^"]+)"[^>]*>' + re.escape(number) + "</a>", page.text)
    assert link, f"the page of certified sample {code} does not link to certificate {number}"
    listed = web.get(base + html.unescape(link.group(1)), timeout=5).text
    assert number in listed
    # The demo runs on a port of its own: the verify link (and the PDF's QR code) point there.
    assert f'href="{base}/verify/{number}?hash=' in listed, "the verify link points where no demo answers"


def test_demo_serves_live_process_data_and_stops_cleanly_on_ctrl_c(tmp_path):
    web_port, broker_port = free_port(), free_port()
    env = {**os.environ, "RECYCLAB_VAR_DIR": str(tmp_path)}
    env.pop("RECYCLAB_DATABASE_URL", None)
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lims.cli",
            "demo",
            "--port",
            str(web_port),
            "--broker-port",
            str(broker_port),
            "--no-model",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    status_file = tmp_path / "ingest-status.json"
    try:
        deadline = time.monotonic() + 60
        stored = 0
        while time.monotonic() < deadline:
            if demo.poll() is not None:
                pytest.fail(f"demo exited early:\n{demo.stdout.read()}")
            if status_file.exists():
                stored = json.loads(status_file.read_text()).get("values_stored_total", 0)
            live = {}
            if status_file.exists():
                live = json.loads(status_file.read_text()).get("last_message", {})
            if len(live) == 5 and _get(f"http://127.0.0.1:{web_port}/healthz") == 200:
                break
            time.sleep(0.5)
        assert stored > 0, "no simulated value reached the store within a minute"
        assert sorted(live) == ["dctv-chem1", "dctv-tear1", "ntk-ext1", "ntk-ext2", "ntk-wash1"]
        assert _get(f"http://127.0.0.1:{web_port}/healthz") == 200
        _assert_the_lims_has_work_in_every_state(tmp_path / "recyclab.db", f"http://127.0.0.1:{web_port}")
        # The simulated excursion opens an alarm, so the alarms page is never empty.
        alarms = 0
        while time.monotonic() < deadline + 45 and not alarms:
            with sqlite3.connect(tmp_path / "recyclab.db") as db:
                alarms = db.execute("SELECT count(*) FROM alarm_event").fetchone()[0]
            time.sleep(1)
        assert alarms > 0, "no alarm from the simulated excursion"
    finally:
        demo.send_signal(signal.SIGINT)
        out, _ = demo.communicate(timeout=30)
    assert demo.returncode == 0, out
    assert "DEMO CREDENTIALS" in out and f"http://127.0.0.1:{web_port}/" in out
    assert _get(f"http://127.0.0.1:{web_port}/healthz") == 0, "web app still running after Ctrl-C"


@pytest.mark.timeout(300)
def test_the_demo_history_holds_no_value_stamped_in_the_future(
    tmp_path, monkeypatch, database_url, session_factory
):
    """The demo writes 10 days of SIMULATED history before the live simulator starts at
    now. Lots running past now (on some lines 40 min to hours, depending on the hour) used
    to be written too: the dashboard's latest values were those future points, frozen, and
    the 1 h charts mixed them with the live ones."""
    seed_reference(session_factory)
    monkeypatch.setenv("RECYCLAB_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("RECYCLAB_DATABASE_URL", database_url)
    monkeypatch.setenv("RECYCLAB_TIMESERIES_BACKEND", "sqlite")
    settings = load_settings()
    history = Demo(settings, web_port=0, broker_port=0).history_steps()[0]
    done = subprocess.run([sys.executable, "-m", "lims.cli", *history], capture_output=True,
                          text=True, timeout=280)
    assert done.returncode == 0, done.stdout + done.stderr
    now = utcnow()
    store = SQLiteStore(settings.timeseries_sqlite_path)
    try:
        ends = {key: max(p.ts for p in store.latest(key).values())
                for key in load_registry().installations}
    finally:
        store.close()
    assert all(end <= now for end in ends.values()), {k: str(e - now) for k, e in ends.items()}
    assert all(now - end < timedelta(hours=12) for end in ends.values())  # a recent past
