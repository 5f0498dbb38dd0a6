"""Issue 12: a manufacturer checks a certificate PDF on the public /verify page in headless
Chromium: the genuine PDF is genuine and valid; one edited after signing is not, with the reason.
Screenshots in test-artifacts/web/."""

from __future__ import annotations

import dataclasses

import pytest
from playwright.sync_api import expect

from lims.certificates import public
from tests.certificates.test_pdf_signature import overlay_edit
from tests.web import seed
from tests.web.test_browser import _certified_sample, shot

pytestmark = pytest.mark.browser


def test_the_verify_page_checks_an_uploaded_pdf(app, live_server, browser_page, session_factory, artifacts_dir, tmp_path):
    seed.seed_reference(session_factory)
    settings = dataclasses.replace(app.config["RECYCLAB"], public_url=live_server)
    app.config["RECYCLAB"] = settings
    number = _certified_sample(session_factory, settings)
    with session_factory() as s:
        genuine = public.pdf_file(public.by_number(s, number), settings)
    files = {"genuine": genuine, "edited": overlay_edit(genuine, b"Grade: A+")}
    for name, body in files.items():
        (tmp_path / f"{name}.pdf").write_bytes(body)

    page = browser_page
    page.goto(f"{live_server}/verify")
    expect(page.get_by_role("link", name="/.well-known/recyclab-signing-cert.pem")).to_be_visible()
    page.locator("input[type=file]").set_input_files(tmp_path / "genuine.pdf")
    page.get_by_role("button", name="Check").click()
    expect(page.locator(".verdict")).to_have_text("Genuine and valid.")
    expect(page.get_by_text(number).first).to_be_visible()
    shot(page, artifacts_dir, "verify-pdf-1-genuine")

    page.locator("input[type=file]").set_input_files(tmp_path / "edited.pdf")
    page.get_by_role("button", name="Check").click()
    expect(page.locator(".verdict")).to_have_text(
        "Not valid: the PDF was changed after the lab signed it (content added after the signature)"
    )
    shot(page, artifacts_dir, "verify-pdf-2-edited")
