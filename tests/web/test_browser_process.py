"""The process engineer's alarms and charts in headless Chromium (issue 16, items 5 and 6), with
screenshots under test-artifacts/web/."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from lims.kernel.clock import utcnow
from lims.kernel.models.process import AlarmEvent
from tests.web import seed
from tests.web.test_browser import login, shot

pytestmark = pytest.mark.browser


def test_engineer_acknowledges_shelves_and_filters_alarms(
    live_server, browser_page, session_factory, artifacts_dir
):
    seed.seed_reference(session_factory)
    now = utcnow()
    with session_factory.begin() as s:
        s.add_all([
            AlarmEvent(installation="ntk-ext1", sensor="melt_temp_c", kind="high", limit=270.0,
                       started_at=now - timedelta(minutes=4), peak_value=283.0),
            AlarmEvent(installation="ntk-ext2", sensor="dryer_dewpoint_c", kind="high", limit=-30.0,
                       started_at=now - timedelta(days=1), peak_value=-24.0,
                       ended_at=now - timedelta(days=1) + timedelta(minutes=6)),
        ])
    page = browser_page
    login(page, live_server, "engineer")
    expect(page.locator("#alarm-count")).to_have_text("1")
    page.get_by_role("link", name=re.compile("^Alarms")).click()
    active = page.locator("#active-alarms")
    row = active.locator('[data-alarm="ntk-ext1/melt_temp_c"]')
    expect(row).to_be_visible()

    # Acknowledging without a comment is refused at the row, before anything is sent.
    row.get_by_role("button", name="Acknowledge").click()
    assert row.get_by_label("Comment").evaluate("el => el.validity.valueMissing")
    row.get_by_label("Comment").fill("melt filter changed, temperature falling")
    shot(page, artifacts_dir, "alarms-1-acknowledge")
    row.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("status")).to_contain_text("acknowledged")
    row = page.locator('#active-alarms [data-alarm="ntk-ext1/melt_temp_c"]')
    expect(row.locator("[data-acknowledged]")).to_contain_text("melt filter changed")
    expect(row.get_by_role("button", name="Acknowledge")).to_have_count(0)

    row.get_by_label("Comment").fill("thermocouple replaced this shift")
    row.get_by_label("Shelve for").select_option("60")
    row.get_by_role("button", name="Shelve").click()
    expect(page.get_by_role("status")).to_contain_text("shelved until")
    expect(page.get_by_text("No active alarms.")).to_be_visible()
    expect(page.locator('#shelved-alarms [data-alarm="ntk-ext1/melt_temp_c"]')).to_contain_text(
        "thermocouple replaced")
    shot(page, artifacts_dir, "alarms-2-shelved")

    # History: installation, sensor, state and a time range.
    history = page.get_by_role("form", name="Filter the alarm history")
    history.get_by_label("State").select_option("past")
    history.get_by_role("button", name="Filter").click()
    expect(page.locator('#alarm-history [data-alarm="ntk-ext2/dryer_dewpoint_c"]')).to_be_visible()
    expect(page.locator('#alarm-history [data-alarm="ntk-ext1/melt_temp_c"]')).to_have_count(0)
    history = page.get_by_role("form", name="Filter the alarm history")
    history.get_by_label("State").select_option("all")
    history.get_by_label("Installation").select_option("ntk-ext1")
    history.get_by_label("Sensor").select_option("melt_temp_c")
    history.get_by_label("Started from").fill((now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    history.get_by_role("button", name="Filter").click()
    expect(page.locator("#alarm-history tbody tr")).to_have_count(1)
    expect(page.locator("#alarm-history")).to_contain_text("melt filter changed")
    shot(page, artifacts_dir, "alarms-3-history-filter")

    # The dashboard no longer counts the shelved alarm as active.
    page.goto(f"{live_server}/process/")
    expect(page.locator("#alarm-count")).to_have_text("0")
