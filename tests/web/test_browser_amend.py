"""Issue 16 item 1: a reviewer corrects a released certificate from the sample page, in
headless Chromium: amend with a reason (a new revision, the old one withdrawn and pointing to
it), and reopen -> retest -> issue the amended certificate. Screenshots in test-artifacts/web/."""

from __future__ import annotations

import dataclasses
import re

import pytest
from playwright.sync_api import Page, expect

from tests.web import seed
from tests.web.test_browser import _certified_sample, login, shot

pytestmark = pytest.mark.browser


def _act(page: Page, button: str, reason: str) -> None:
    form = page.locator("form", has=page.get_by_role("button", name=button))
    form.locator("input[name=reason]").fill(reason)
    form.get_by_role("button", name=button).click()


def _superseded_by(page: Page, base: str, old: str, new: str) -> None:
    page.goto(f"{base}/verify/{old}")
    expect(page.get_by_text(re.compile("superseded", re.I)).first).to_be_visible()
    expect(page.get_by_role("link", name=new)).to_be_visible()


def test_reviewer_amends_a_certificate_from_the_sample_page(
    app, live_server, browser_page, session_factory, artifacts_dir
):
    seed.seed_reference(session_factory)
    app.config["RECYCLAB"] = dataclasses.replace(app.config["RECYCLAB"], public_url=live_server)
    number = _certified_sample(session_factory, app.config["RECYCLAB"])
    code = _sample_of(session_factory, number)
    page = browser_page
    login(page, live_server, "reviewer")
    page.goto(f"{live_server}/lab/samples/{code}")
    shot(page, artifacts_dir, "amend-1-certified-sample")
    _act(page, "Amend certificate", "customer name misspelt")
    revision = f"{number}-R1"
    expect(page.get_by_text(re.compile(rf"Certificate {re.escape(revision)}: valid"))).to_be_visible()
    certificates = page.get_by_test_id("certificates")
    expect(certificates.get_by_role("link", name=revision)).to_be_visible()
    # The message names the new revision as a link to it, like the certify message does.
    expect(page.get_by_role("status").get_by_role("link", name=revision)).to_be_visible()
    expect(certificates).to_contain_text(re.compile(r"withdrawn|superseded", re.I))
    shot(page, artifacts_dir, "amend-2-revision-issued")
    _superseded_by(page, live_server, number, revision)
    shot(page, artifacts_dir, "amend-3-old-points-to-new")


def test_reviewer_reopens_retests_and_issues_the_amended_certificate(
    app, live_server, browser_page, session_factory, artifacts_dir
):
    seed.seed_reference(session_factory)
    app.config["RECYCLAB"] = dataclasses.replace(app.config["RECYCLAB"], public_url=live_server)
    number = _certified_sample(session_factory, app.config["RECYCLAB"])
    code = _sample_of(session_factory, number)
    page = browser_page
    login(page, live_server, "reviewer")
    page.goto(f"{live_server}/lab/samples/{code}")
    _act(page, "Reopen to correct results", "MFR measured at the wrong temperature")
    expect(page.get_by_text(re.compile(rf"Certificate {re.escape(number)}: withdrawn"))).to_be_visible()
    expect(page.get_by_role("heading", name=code)).to_contain_text("verified")
    shot(page, artifacts_dir, "reopen-1-reopened")
    retest = page.locator("form", has=page.get_by_role("button", name="Retest")).first
    retest.locator("input[name=reason]").fill("wrong temperature")
    retest.get_by_role("button", name="Retest").click()
    expect(page.get_by_role("status")).to_contain_text("Retest of")
    expect(page.get_by_role("heading", name=code)).to_contain_text("received")
    shot(page, artifacts_dir, "reopen-2-retest")
    # The new result: entered by a technician and verified by the reviewer (four eyes).
    seed.submit_all(session_factory, code, "tech")
    seed.verify_all(session_factory, code, "reviewer")
    page.goto(f"{live_server}/lab/samples/{code}")
    button = f"Issue the amended certificate replacing {number}"
    _act(page, button, "MFR retested at 230 °C")
    revision = f"{number}-R1"
    expect(page.get_by_text(re.compile(rf"Certificate {re.escape(revision)}: valid"))).to_be_visible()
    expect(page.get_by_test_id("certificates").get_by_role("link", name=revision)).to_be_visible()
    shot(page, artifacts_dir, "reopen-3-amended-issued")
    _superseded_by(page, live_server, number, revision)


def _sample_of(session_factory, number: str) -> str:
    from sqlalchemy import select

    from lims.kernel.models import Certificate

    with session_factory() as s:
        return s.scalar(select(Certificate).where(Certificate.number == number)).samples[0].code
