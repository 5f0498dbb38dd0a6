"""The Content-Security-Policy every answer carries allows scripts from /static only: a page
whose own script the browser refuses under it works only in part, and trains its readers to
overlook the console's violations. Each role's pages open in Chromium without one."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.web import seed
from tests.web.test_browser import login

pytestmark = pytest.mark.browser

PAGES = {
    "engineer": ["/process/", "/process/installations/ntk-ext1", "/process/alarms", "/lots/", "/models/"],
    "tech": ["/lab/samples", "/lab/receive", "/lab/import", "/lab/worksheets", "/lab/lots/new", "/account/tokens"],
    "polyvorm": ["/certificates/", "/verify"],
}


def test_every_roles_pages_run_under_the_content_security_policy(live_server, browser_page, session_factory):
    seed.seed_reference(session_factory)
    page = browser_page
    refused: list[str] = []
    page.on("console", lambda m: refused.append(f"{page.url}: {m.text}") if "Content Security Policy" in m.text else None)
    series: list[str] = []
    page.on("request", lambda r: series.append(r.url) if "/series" in r.url else None)
    for username, paths in PAGES.items():
        login(page, live_server, username)
        for path in paths:
            page.goto(f"{live_server}{path}")
            if path.startswith("/process/installations/"):
                expect(page.locator("#sensor-charts")).to_have_attribute("data-ready-ms", re.compile(r"\d+"))
        page.context.clear_cookies()
    assert refused == []
    # The installation page asks for its charts' data once, while it loads.
    assert len(series) == 1, series
