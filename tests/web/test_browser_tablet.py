"""On a 768 px tablet at the bench, a sample ID or a certificate number stays on one line: a
technician compares it with the label in hand, and "NTK-" over "2026-" over "000001" is misread."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.web import seed
from tests.web.test_browser import login, shot
from tests.web.test_pages import _certify

pytestmark = pytest.mark.browser


def _lines(page: Page, selector: str) -> list[int]:
    """How many line boxes each matching element is broken into."""
    return page.locator(selector).evaluate_all("els => els.map(e => e.getClientRects().length)")


def test_ids_stay_on_one_line_on_a_tablet(app, live_server, browser_page, session_factory, artifacts_dir):
    seed.seed_reference(session_factory)
    waiting, certified = seed.lot_with_samples(session_factory, 2, code="SIM2-202612030641-ntk-ext1-000003").sample_codes
    seed.submit_all(session_factory, waiting, "tech")
    number = _certify(app, session_factory, certified)
    page = browser_page
    page.set_viewport_size({"width": 768, "height": 1024})
    login(page, live_server, "reviewer")
    page.goto(f"{live_server}/review/")
    shot(page, artifacts_dir, "tablet-review-queue")
    assert _lines(page, f"a:text-is('{waiting}')") and set(_lines(page, f"a:text-is('{waiting}')")) == {1}
    page.goto(f"{live_server}/lab/samples")
    assert set(_lines(page, f"a:text-is('{certified}')")) == {1}
    page.goto(f"{live_server}/certificates/")
    shot(page, artifacts_dir, "tablet-certificates")
    assert _lines(page, f"strong:text-is('{number}')") == [1]
    # The certificate's files are what its reader came for: on screen, not past the table's edge.
    pdf = page.locator(f"tr[data-certificate='{number}']").get_by_role("link", name="PDF").bounding_box()
    assert pdf["x"] + pdf["width"] <= 768, pdf
