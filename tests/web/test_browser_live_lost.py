"""Story: the dashboard is open on the control-room screen, and its web process goes away (a
restart, a network cut). The values on it must not go on looking live."""

from __future__ import annotations

import re
import threading

import pytest
from playwright.sync_api import expect

from ingest.store import Point, open_store
from lims.kernel.clock import utcnow
from tests.web import seed
from tests.web.test_browser import login, shot

pytestmark = pytest.mark.browser

STALE_AFTER_S = 8


@pytest.fixture
def app_settings():
    return {"live_stale_after_s": STALE_AFTER_S}


def test_the_open_dashboard_no_longer_calls_a_line_running_once_its_updates_stopped_coming(
    app, browser_page, session_factory, artifacts_dir
):
    """The updates failed and the small note beside the title said so, but every installation
    kept its green "running" badge and every value its "2 s ago", for as long as the screen
    stayed open. Once the page has had no update for the stale limit, it no longer knows
    whether data comes in: the rows and badges say "no recent data" as they would for a
    stopped line, and the relative ages go (the time of each reading stays)."""
    from werkzeug.serving import make_server

    seed.seed_reference(session_factory)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    page = browser_page
    badge = page.locator('[data-live-state="ntk-ext1"]')
    row = page.locator('[data-sensor="ntk-ext1/melt_temp_c"]')
    try:
        login(page, base, "engineer")
        store = open_store(app.config["RECYCLAB"])
        store.write([Point("ntk-ext1", "melt_temp_c", utcnow(), 212.4)])
        store.close()
        page.goto(f"{base}/process/")
        expect(badge).to_have_text("running")
        expect(row).to_have_class("ok")
        expect(row.locator("[data-live-age]")).to_contain_text("ago")
    finally:
        server.shutdown()
        server.server_close()
    expect(page.get_by_text("Live updates interrupted")).to_be_visible(timeout=5_000)
    expect(badge).to_have_text("no recent data", timeout=(STALE_AFTER_S + 5) * 1000)
    expect(badge).to_have_class(re.compile(r"\bstale\b"))
    expect(row).to_have_class("stale")
    expect(row.locator("[data-live-age]")).to_have_text("")
    expect(row.locator("[data-live-time]")).not_to_have_text("")
    shot(page, artifacts_dir, "dashboard-updates-lost")
