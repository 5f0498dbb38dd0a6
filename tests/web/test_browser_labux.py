"""Usability in the browser: the worksheet flag says what a typed value means for the grade,
the top bar fits one line at 1280 px for every role, the Register-lot form offers only what
fits, a Dutch chart legend is Dutch, and a scan the server refuses says it did not go in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from ingest.store import Point, open_store
from lims.kernel.clock import utcnow
from lims.kernel.models import Analysis, Sample
from lims.kernel.models.analytics import Prediction
from tests.web import seed
from tests.web.test_browser import login, logout
from tests.web.test_lot_list import predict

pytestmark = pytest.mark.browser


def test_the_live_flag_says_a_value_costs_grade_a(live_server, browser_page, session_factory):
    seed.seed_reference(session_factory)
    code = seed.lot_with_samples(session_factory, 1).sample_codes[0]
    with session_factory() as s:
        mfr = s.scalar(select(Analysis).join(Sample).where(Sample.code == code, Analysis.method.has(property="mfr")))
    page = browser_page
    login(page, live_server, "tech")
    page.goto(f"{live_server}/lab/samples/{code}/worksheet")
    value = page.locator(f'input[name="value-{mfr.id}"]')
    flag = page.locator(f"#flag-{mfr.id}")
    value.fill("20")  # PP mfr: A 8..16, B 4..25, C 2..40 g/10 min
    expect(flag).to_have_text("B only")
    expect(flag).to_have_class("flag warn")
    expect(flag).to_have_attribute("title", "grade A: 20.00 is above max 16")
    value.fill("12")
    expect(flag).to_have_text("A")
    value.fill("50")
    expect(flag).to_have_text("off-spec")


def test_the_top_bar_is_one_line_at_1280_px_for_every_role_in_both_languages(
    live_server, browser_page, session_factory
):
    """Dutch labels are longer: the reviewer's and the administrator's bar wrapped onto a second
    line. The bar is measured against its brand link, which is one line high."""
    seed.seed_reference(session_factory)
    page = browser_page
    heights = {}
    for username in ["polyvorm", "tech", "reviewer", "engineer", "admin"]:
        login(page, live_server, username)
        for lang in ["EN", "NL"]:
            page.locator("header.topbar").get_by_role("button", name=lang, exact=True).click()
            # Measured on the page the click loaded, styled: on a busy machine the old one, or
            # the new one before its style sheet, measured 4 lines high.
            expect(page.locator("html")).to_have_attribute("lang", lang.lower())
            page.wait_for_load_state("load")
            bar = page.locator("header.topbar").bounding_box()
            line = page.locator("header.topbar .brand").bounding_box()
            heights[(username, lang)] = round(bar["height"] / line["height"], 2)
        # Nothing is dropped to make it fit: the account's pages are one click under the name.
        page.locator("header.topbar details.account summary").click()
        expect(page.get_by_role("link", name="API-tokens")).to_be_visible()
        expect(page.get_by_role("link", name="Wachtwoord")).to_be_visible()
        page.locator("header.topbar").get_by_role("button", name="EN", exact=True).click()
        logout(page)
    # One line plus the bar's padding is about 1.9 brand lines; a second line makes it about 3.
    assert {who: ratio for who, ratio in heights.items() if ratio > 2.4} == {}


def test_the_lot_list_fits_1280_px_in_dutch_with_each_lot_code_on_one_line(live_server, browser_page, session_factory):
    """A lot code as the demo and the simulator make them was broken into seven pieces of four
    characters, and the table still ran past the page's right edge."""
    seed.seed_reference(session_factory)
    for line in ("ext1", "ext2"):
        lot = seed.lot_with_samples(session_factory, 1, code=f"SIM2-202612030641-ntk-{line}-000003")
        # with the model's version and a warning under its grade
        predict(session_factory, lot.lot_id, "off-spec", version="grade-20261203T064112345678Z")
    with session_factory.begin() as s:
        s.scalar(select(Prediction).limit(1)).out_of_training_range = True
    page = browser_page
    login(page, live_server, "engineer")
    page.get_by_role("button", name="NL", exact=True).click()
    page.goto(f"{live_server}/lots/")
    lines = page.locator("table.lots a:text-matches('^SIM2-')").evaluate_all(
        "els => els.map(e => e.getClientRects().length)")
    assert lines == [1, 1]
    wrap = page.locator(".table-wrap").evaluate("e => [e.scrollWidth, e.clientWidth]")
    assert wrap[0] <= wrap[1], wrap


def test_register_lot_offers_only_the_installations_line_materials(live_server, browser_page, session_factory):
    seed.seed_reference(session_factory)
    page = browser_page
    login(page, live_server, "tech")
    page.goto(f"{live_server}/lab/lots/new")
    material = page.get_by_label("Material")
    expect(material).to_have_value("")
    expect(page.get_by_label("Installation")).to_have_value("")
    offered = "sel => Array.from(sel.options).filter(o => o.value && !o.disabled && !o.parentElement.disabled).map(o => o.value)"
    page.get_by_label("Installation").select_option("ntk-ext1")
    assert "pp" in material.evaluate(offered) and "cotton" not in material.evaluate(offered)
    material.select_option("pp")
    page.get_by_label("Installation").select_option("dctv-chem1")
    expect(material).to_have_value("")  # a material the new line does not make is not kept
    assert "cotton" in material.evaluate(offered) and "pp" not in material.evaluate(offered)


def test_the_chart_legend_names_the_time_in_dutch(app, live_server, browser_page, session_factory):
    seed.seed_reference(session_factory)
    now = utcnow().replace(second=0, microsecond=0)
    open_store(app.config["RECYCLAB"]).write(
        [Point("ntk-ext1", "melt_temp_c", now - timedelta(minutes=m), 230.0) for m in range(30)])
    page = browser_page
    login(page, live_server, "engineer")
    page.get_by_role("button", name="NL").click()
    page.goto(f"{live_server}/process/installations/ntk-ext1?range=1h")
    time_label = page.locator('.sensor-chart[data-sensor="melt_temp_c"] .u-legend .u-series').first.locator(".u-label")
    expect(time_label).to_have_text("Tijd")


def test_a_scan_the_server_refuses_says_it_did_not_go_in(live_server, browser_page, session_factory):
    """An answer that is not the receive page's (here: the form has expired) used to add nothing
    to the log, so the technician could not tell the bag was never received."""
    seed.seed_reference(session_factory)
    code = seed.lot_with_samples(session_factory, 1, receive=False).sample_codes[0]
    page = browser_page
    login(page, live_server, "tech")
    page.goto(f"{live_server}/lab/receive")
    page.wait_for_load_state("load")
    page.locator("form[data-scan] input[name=csrf_token]").evaluate("(field) => { field.value = 'expired'; }")
    page.get_by_label("Sample ID").focus()
    page.keyboard.type(code)
    page.keyboard.press("Enter")
    line = page.get_by_test_id("receive-log").get_by_role("listitem")
    expect(line).to_have_count(1)
    expect(line).to_have_text(f"{code} was not received: 400 The request could not be understood. Scan it again.")
    with session_factory() as s:
        assert s.scalar(select(Sample.state).where(Sample.code == code)) == "registered"

    page.reload()
    expect(page.get_by_label("Sample ID")).to_be_focused()
    page.keyboard.type(code)
    page.keyboard.press("Enter")
    expect(line).to_have_count(1)
    expect(line).to_contain_text(f"Received {code}")
