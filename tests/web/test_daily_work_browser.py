"""Issue 16: each role's daily paths in headless Chromium, with screenshots under
test-artifacts/web/ for a person to look at."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from lims.kernel import clock
from tests.web import seed
from tests.web.test_browser import login, shot
from tests.web.test_lot_list import grade, predict

pytestmark = pytest.mark.browser


def test_engineer_finds_a_lot_whose_prediction_differs_from_the_lab(
    live_server, browser_page, session_factory, artifacts_dir
):
    seed.seed_reference(session_factory)
    agreeing = seed.lot_with_samples(session_factory, 1)
    differing = seed.lot_with_samples(session_factory, 1)
    for lot, predicted, lab in ((agreeing, "A", "A"), (differing, "A", "B")):
        predict(session_factory, lot.lot_id, predicted)
        grade(session_factory, lot.sample_codes[0], lab)
    page = browser_page
    login(page, live_server, "engineer")
    page.get_by_role("link", name="Lots", exact=True).click()
    expect(page.locator("tr[data-lot]")).to_have_count(2)
    page.get_by_label("Predicted vs lab").select_option("differs")
    page.get_by_role("button", name="Find").click()
    row = page.locator("tr[data-lot]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(differing.lot_code)
    expect(row.locator(".badge")).to_have_text("✗")
    shot(page, artifacts_dir, "i16-lots-1-prediction-differs")
    row.get_by_role("link", name=differing.lot_code).click()
    expect(page.get_by_role("heading", name=f"Lot {differing.lot_code}")).to_be_visible()
    shot(page, artifacts_dir, "i16-lots-2-process-view")


def test_technician_imports_a_dutch_excel_file_after_correcting_every_listed_problem(
    live_server, browser_page, session_factory, artifacts_dir
):
    seed.seed_reference(session_factory)
    with clock.frozen_at(datetime(2026, 7, 1, 8, 0, tzinfo=UTC)):  # received before the time typed below
        lot = seed.lot_with_samples(session_factory, 1)
    code = lot.sample_codes[0]
    page = browser_page
    login(page, live_server, "tech")
    page.get_by_role("link", name="Import results (CSV)").click()
    page.get_by_text("Method keys and templates per material").click()
    with page.expect_download() as download:
        page.locator("a[data-template=pp]").click()
    template = download.value.path().read_text(encoding="utf-8-sig").splitlines()
    key, unit = template[1].split(",")[1], template[1].split(",")[3]
    expect(page.locator("#method-keys code", has_text=key).first).to_be_visible()
    shot(page, artifacts_dir, "i16-import-1-method-keys")
    with session_factory() as s:
        from sqlalchemy import select

        from lims.kernel.models import Analysis, Sample

        analysis = s.scalar(select(Analysis).join(Sample).where(Sample.code == code, Analysis.method.has(key=key)))
        value = seed.in_spec_value(s, analysis).replace(".", ",")
    wrong = f"sample_id;method;value;unit;measured_at\n{code};{key};{value};furlong;gisteren\n"
    page.get_by_label("or paste the rows").fill(wrong)
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("Nothing was imported.")).to_be_visible()
    expect(page.locator("table.row-errors tbody tr")).to_have_count(2)  # unit and time, both at once
    expect(page.get_by_label("or paste the rows")).to_have_value(wrong)
    shot(page, artifacts_dir, "i16-import-2-every-problem-listed")
    page.get_by_label("or paste the rows").fill(wrong.replace("furlong", unit).replace("gisteren", "01-07-2026 14:30"))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("1 result imported.")).to_be_visible()
    shot(page, artifacts_dir, "i16-import-3-imported")


def test_admin_adds_a_user_who_mints_and_revokes_a_token_and_the_audit_chain_holds(
    live_server, browser_page, session_factory, artifacts_dir
):
    seed.seed_reference(session_factory)
    page = browser_page
    login(page, live_server, "admin")
    page.get_by_role("link", name="Users", exact=True).click()
    page.get_by_label("Username").fill("nina")
    page.get_by_label("Full name").fill("Nina Bakker")
    page.get_by_label("Role").select_option("technician")
    page.get_by_label("Organization").select_option("ntk")
    page.get_by_label("Initial password (8 to 200 characters, not a common one, not containing the login name)").fill("bakker-pass-2026")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_text("User nina created.")).to_be_visible()
    expect(page.locator("tr[data-user=nina]")).to_contain_text("active")
    shot(page, artifacts_dir, "i16-admin-1-users")
    page.get_by_role("button", name="Log out").click()

    page.goto(f"{live_server}/login")
    page.get_by_label("Username").fill("nina")
    page.get_by_label("Password").fill("bakker-pass-2026")
    page.get_by_role("button", name="Log in").click()
    # The administrator knows that password: nina chooses her own before anything else.
    expect(page.get_by_text("An administrator set your password")).to_be_visible()
    page.get_by_label("Current password").fill("bakker-pass-2026")
    page.get_by_label("New password", exact=True).fill("only-she-knows-it")
    page.get_by_label("New password again").fill("only-she-knows-it")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Your password is changed.")).to_be_visible()
    page.locator("details.account summary").click()  # the account menu, under her name
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name of the new token").fill("balance PC")
    page.get_by_label("Your password").fill("only-she-knows-it")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").inner_text()
    assert token.startswith("rcl_")
    assert page.request.get(f"{live_server}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).ok
    shot(page, artifacts_dir, "i16-admin-2-token-shown-once")
    page.reload()
    expect(page.locator("#new-token")).to_have_count(0)
    page.locator("tr[data-token='balance PC']").get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("revoked: it no longer works")).to_be_visible()
    assert page.request.get(f"{live_server}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status == 401
    page.get_by_role("button", name="Log out").click()

    login(page, live_server, "admin")
    page.get_by_role("link", name="Audit log").click()
    page.get_by_label("Action").select_option("token.revoke")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tr[data-seq]")).to_have_count(1)
    page.get_by_role("button", name="Check the chain").click()
    expect(page.get_by_test_id("chain")).to_contain_text("The chain is intact")
    shot(page, artifacts_dir, "i16-admin-3-audit-chain")


def test_technician_enters_a_method_run_across_samples_where_enter_never_submits(
    live_server, browser_page, session_factory, artifacts_dir
):
    seed.seed_reference(session_factory)
    received = seed.lot_with_samples(session_factory, 2)
    waiting = seed.lot_with_samples(session_factory, 1, receive=False)
    from sqlalchemy import select

    from lims.kernel.models import Analysis, Sample

    with session_factory() as s:
        first = s.scalars(select(Analysis).join(Sample).where(Sample.code == received.sample_codes[0]).order_by(Analysis.id)).first()
        key, unit, good = first.method.key, first.method.unit, seed.in_spec_value(s, first)
    page = browser_page
    login(page, live_server, "tech")
    page.get_by_role("link", name="Worksheets by method").click()
    page.locator(f"tr[data-method='{key}']").get_by_role("link").click()
    expect(page.locator(f"tr[data-sample='{waiting.sample_codes[0]}']")).to_contain_text("Not received yet")
    expect(page.locator(f"tr[data-sample='{waiting.sample_codes[0]}'] input")).to_have_count(0)
    one, two = (page.get_by_label(f"Value {c}") for c in received.sample_codes)
    one.fill(good)
    one.press("Enter")  # a balance or a habit: Enter moves on, it does not submit the sheet
    expect(two).to_be_focused()
    two.fill(good)
    page.get_by_label(f"Unit {received.sample_codes[1]}").fill("furlong")
    unit_error = page.locator(f"tr[data-sample='{received.sample_codes[1]}'] [data-error-for=unit]")
    expect(unit_error).to_contain_text("expected")  # the live check puts it under the unit ...
    row_text = page.locator(f"tr[data-sample='{received.sample_codes[1]}']")
    expect(row_text.get_by_text(re.compile("expected"))).to_have_count(1)  # ... once
    two.press("Enter")
    assert "worksheets/" in page.url and page.get_by_text("result(s) submitted").count() == 0
    shot(page, artifacts_dir, "i16-worksheet-1-method-sheet")
    page.get_by_role("button", name="Submit results").click()
    expect(page.get_by_text("Nothing was saved.")).to_be_visible()
    page.wait_for_timeout(500)  # the live check runs again on the kept values
    expect(row_text.get_by_text(re.compile("expected"))).to_have_count(1)
    expect(unit_error).to_contain_text("expected")
    shot(page, artifacts_dir, "i16-worksheet-2-one-error-under-its-field")
    page.get_by_label(f"Unit {received.sample_codes[1]}").fill(unit)
    page.get_by_role("button", name="Submit results").click()
    expect(page.get_by_text("2 result(s) submitted")).to_be_visible()
    shot(page, artifacts_dir, "i16-worksheet-3-submitted")


def test_the_sample_worksheet_shows_a_wrong_unit_once_under_the_unit(
    live_server, browser_page, session_factory, artifacts_dir
):
    """Defect: the message was shown under the unit by the server and again under the value by
    the live check."""
    seed.seed_reference(session_factory)
    code = seed.lot_with_samples(session_factory, 1).sample_codes[0]
    page = browser_page
    login(page, live_server, "tech")
    page.goto(f"{live_server}/lab/samples/{code}/worksheet")
    row = page.locator("#worksheet tbody tr").first
    row.locator("input[data-evaluate]").fill("1")
    row.locator("input[name^=unit-]").fill("furlong")
    page.get_by_role("button", name="Submit results").click()
    expect(page.get_by_text("Nothing was saved.")).to_be_visible()
    page.wait_for_timeout(500)
    expect(row.get_by_text(re.compile("expected"))).to_have_count(1)
    assert "expected" not in row.locator("td").nth(2).inner_text()  # not under the value
    shot(page, artifacts_dir, "i16-worksheet-4-sample-sheet-error")


def test_reviewer_certifies_and_follows_the_links_to_the_certificate(
    live_server, browser_page, session_factory, artifacts_dir
):
    seed.seed_reference(session_factory)
    lot = seed.lot_with_samples(session_factory, 1)
    code = lot.sample_codes[0]
    seed.submit_all(session_factory, code, "tech")
    seed.verify_all(session_factory, code, "reviewer")
    page = browser_page
    login(page, live_server, "reviewer")
    page.goto(f"{live_server}/lab/samples/{code}")
    page.get_by_role("button", name="Certify").click()
    message = page.locator(".flash.success")
    expect(message).to_contain_text(f"issued for {code}")
    number = message.get_by_role("link").inner_text()
    shot(page, artifacts_dir, "i16-certify-1-message-links")
    message.get_by_role("link", name=number).click()
    expect(page.locator("tr[data-certificate]")).to_have_count(1)
    expect(page.locator("tr[data-certificate]")).to_contain_text(number)
    # Found again by part of the lot, typed in lower case.
    page.get_by_label("Search").fill("")
    page.get_by_label("Lot").fill(lot.lot_code[-6:].lower())
    page.get_by_role("button", name="Search").click()
    expect(page.locator(f"tr[data-certificate='{number}']")).to_have_count(1)
    shot(page, artifacts_dir, "i16-certify-2-found-by-part-of-lot")
    page.goto(f"{live_server}/lab/samples/{code}")
    expect(page.get_by_test_id("certificates").get_by_role("link", name=number)).to_be_visible()
    shot(page, artifacts_dir, "i16-certify-3-sample-links-certificate")


def test_dates_are_typed_day_first_like_the_pages_show_them(
    live_server, browser_page, session_factory, artifacts_dir
):
    seed.seed_reference(session_factory)
    page = browser_page
    login(page, live_server, "tech")
    page.goto(f"{live_server}/lab/lots/new")
    start = page.get_by_label("Production start")
    expect(start).to_have_attribute("placeholder", "dd/mm/yyyy hh:mm")
    page.get_by_label("Lot code").fill("EXT1-2026-0413")
    page.get_by_label("Installation").select_option("ntk-ext1")  # nothing is chosen beforehand
    page.get_by_label("Material").select_option("pp")
    page.get_by_label("Owner (customer)").select_option("polyvorm")
    start.fill("29/11/2026 08:00")
    page.get_by_label("Production end").fill("29/11/2026 16:00")
    shot(page, artifacts_dir, "i16-dates-1-day-first")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_text("Lot EXT1-2026-0413 registered")).to_be_visible()
    expect(page.get_by_text("29/11/2026, 08:00")).to_be_visible()  # shown as it was typed
    shot(page, artifacts_dir, "i16-dates-2-shown-the-same-way")
