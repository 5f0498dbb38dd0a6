"""The live dashboard on the simulator's data, as the demo shows it: the values move every
second, none is stamped in the future, each shows its age, and the pages say SIMULATED."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
import uuid

import pytest
from playwright.sync_api import expect

from ingest.alarms import AlarmTracker
from ingest.records import LimsRecorder
from ingest.registry import load_registry
from ingest.service import IngestConfig, Ingester
from ingest.status import STATUS_FILE
from ingest.store import open_store
from ingest.validate import Validator
from tests.ingest.support import IngesterThread, PrivateMosquitto, wait_until
from tests.web import seed
from tests.web.test_browser import login

pytestmark = [pytest.mark.mqtt, pytest.mark.slow, pytest.mark.timeout(240)]

READ_CELLS = """() => [...document.querySelectorAll('[data-sensor]')].map((row) => ({
    sensor: row.dataset.sensor,
    value: row.querySelector('[data-live-value]').textContent,
    ts: row.querySelector('[data-live-time]').dataset.ts,
    age: row.querySelector('[data-live-age]').textContent,
    grey: getComputedStyle(row.querySelector('td')).color,
}))"""


def test_simulated_live_values_change_within_three_seconds_and_none_is_in_the_future(
    app, live_server, browser_page, session_factory, database_url, tmp_path
):
    seed.seed_reference(session_factory)
    settings = dataclasses.replace(app.config["RECYCLAB"], simulated_data=True)
    app.config["RECYCLAB"] = settings
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    broker = PrivateMosquitto(tmp_path / "mosquitto").start()
    url = f"mqtt://{broker.host}:{broker.port}"
    registry = load_registry()
    store = open_store(settings)
    ingester = Ingester(
        IngestConfig(broker_url=url, client_id=f"web-{uuid.uuid4().hex[:10]}",
                     topics=("recyclab/v1/+/+",), spool_path=tmp_path / "spool.db",
                     status_path=settings.var_dir / STATUS_FILE),
        store, LimsRecorder(session_factory, AlarmTracker(registry)), Validator(registry),
    )
    env = {**os.environ, "RECYCLAB_DATABASE_URL": database_url,
           "RECYCLAB_VAR_DIR": str(tmp_path / "simulator")}
    simulator = None
    page = browser_page
    try:
        with IngesterThread(ingester):
            # as the demo runs it: real time, one message a second per installation
            simulator = subprocess.Popen(
                [sys.executable, "-m", "lims.cli", "simulate", "--broker-url", url,
                 "--speedup", "1", "--rate", "1", "--running-start", "--no-lims",
                 "--duration", "180"],
                env=env, stdout=open(tmp_path / "simulator.log", "wb"), stderr=subprocess.STDOUT,
            )
            login(page, live_server, "engineer")
            page.goto(f"{live_server}/process/")
            expect(page.locator(".badge.simulated")).to_have_text("SIMULATED")

            def shown() -> list[dict]:
                cells = page.evaluate(READ_CELLS)
                return [c for c in cells if c["ts"]]

            first = wait_until(lambda: len(shown()) >= 20 and shown(), 60,
                               "the simulator's values on the dashboard", interval=0.5)
            time.sleep(3)
            later = {c["sensor"]: c for c in shown()}
            changed = [c["sensor"] for c in first if later[c["sensor"]]["value"] != c["value"]]
            assert len(changed) >= len(first) // 2, f"{len(changed)} of {len(first)} changed in 3 s"
            now_ms = page.evaluate("Date.now()")
            future = [c for c in later.values()
                      if page.evaluate("(ts) => Date.parse(ts)", c["ts"]) > now_ms + 1000]
            assert not future, future
            assert all(c["age"].endswith("ago") for c in later.values()), later
            page.get_by_role("link", name="Alarms").first.click()
            expect(page.locator(".badge.simulated")).to_have_text("SIMULATED")
            page.goto(f"{live_server}/process/installations/ntk-ext1")
            expect(page.locator(".badge.simulated")).to_have_text("SIMULATED")
    finally:
        if simulator is not None:
            simulator.terminate()
            simulator.wait(20)
        store.close()
        broker.stop()
