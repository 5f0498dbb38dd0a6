"""Issue 16: each role's daily paths in headless Chromium, with screenshots under
test-artifacts/web/ for a person to look at."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

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
    page.get_by_label("Initial password (at least 8 characters)").fill("nina-pass-2026")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_text("User nina created.")).to_be_visible()
    expect(page.locator("tr[data-user=nina]")).to_contain_text("active")
    shot(page, artifacts_dir, "i16-admin-1-users")
    page.get_by_role("button", name="Log out").click()

    page.goto(f"{live_server}/login")
    page.get_by_label("Username").fill("nina")
    page.get_by_label("Password").fill("nina-pass-2026")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name of the new token").fill("balance PC")
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
