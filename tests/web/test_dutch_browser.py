"""Issue 16 item 7, Dutch throughout: a Dutch reader (browser language nl) sees Dutch material and
method names, a refused value explained in Dutch, decimal commas and dd-mm-yyyy dates; the public
verify page follows the browser's language with nobody logged in. Screenshots under
test-artifacts/web/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from lims.kernel.models import Analysis, Sample
from tests.web import seed
from tests.web.test_browser import shot
from tests.web.test_pages import _certify

pytestmark = pytest.mark.browser

DAY = r"\d{2}-\d{2}-\d{4}"  # the one Dutch date format


@pytest.fixture
def dutch_page(browser):
    """A browser whose language is Dutch: it sends Accept-Language: nl-NL."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="nl-NL")
    yield context.new_page()
    context.close()


def test_a_dutch_technician_works_in_dutch_and_the_verify_page_follows_the_browser(
    app, live_server, dutch_page, browser, session_factory, artifacts_dir
):
    from sqlalchemy import select

    seed.seed_reference(session_factory)
    lot = seed.lot_with_samples(session_factory, 2)
    code, certified = lot.sample_codes
    number = _certify(app, session_factory, certified)
    with session_factory() as s:
        density = s.scalar(
            select(Analysis).join(Sample).where(Sample.code == code, Analysis.method.has(key="density_1183"))
        )
        row_id = density.id

    page = dutch_page
    page.goto(f"{live_server}/login")
    page.get_by_label("Gebruikersnaam").fill("tech")
    page.get_by_label("Wachtwoord").fill(seed.PASSWORDS["tech"])
    page.get_by_role("button", name="Aanmelden").click()
    page.get_by_role("link", name="Monsters", exact=True).click()
    listed = page.locator("tr", has=page.get_by_role("link", name=code, exact=True))
    expect(listed).to_contain_text("Gerecycled polypropeen (spuitgietregranulaat)")  # name_nl
    expect(listed).to_contain_text(re.compile(DAY))
    shot(page, artifacts_dir, "i16-dutch-1-samples")

    page.goto(f"{live_server}/lab/samples/{code}/worksheet")
    row = page.locator("#worksheet tbody tr", has=page.locator(f"input[name=value-{row_id}]"))
    expect(row).to_contain_text("Dichtheid")
    value = row.locator(f"input[name=value-{row_id}]")
    value.fill("7,5")  # g/cm3: no plastic is that dense
    error = row.locator("[data-error-for=value]")
    expect(error).to_contain_text("is geen aannemelijk resultaat van methode density_1183")
    expect(error).to_contain_text("aannemelijk: 0,5 tot 2,5 g/cm3")  # a comma, not a point
    page.get_by_role("button", name="Resultaten indienen").click()
    expect(page.get_by_text("Er is niets opgeslagen.")).to_be_visible()
    expect(error).to_contain_text("is geen aannemelijk resultaat")  # the server's message, in Dutch
    assert "plausible" not in row.inner_text()
    shot(page, artifacts_dir, "i16-dutch-2-refused-value")

    flag = row.locator(f"#flag-{row_id}")
    row.locator(f"input[name=value-{row_id}]").fill("0,920")  # past A's max 0,915, within B's
    expect(flag).to_have_text("alleen B")
    expect(flag).to_have_attribute("title", "klasse A: 0,920 ligt boven max 0,915")  # the hover text
    row.locator(f"input[name=value-{row_id}]").fill("0,905")
    expect(flag).to_have_text("A")
    expect(flag).to_have_attribute("title", re.compile(r"^klasse A: 0,905 ligt binnen 0,895"))
    page.get_by_role("button", name="Resultaten indienen").click()
    expect(page.get_by_text(f"ingediend voor {code}")).to_be_visible()
    page.goto(f"{live_server}/lab/samples/{code}")
    result = page.locator("tr", has_text="Dichtheid")
    expect(result).to_contain_text("0,905 ± 0,002 g/cm3")
    expect(page.locator("dd", has=page.locator("time")).first).to_have_text(re.compile(rf"^{DAY},? \d{{2}}:\d{{2}}$"))
    shot(page, artifacts_dir, "i16-dutch-3-comma-and-date")

    # Nobody logged in: the public verify page speaks the browser's language.
    public = browser.new_context(viewport={"width": 1000, "height": 800}, locale="nl-NL").new_page()
    public.goto(f"{live_server}/verify/{number}")
    expect(public.get_by_role("heading", name=f"Certificaat {number}")).to_be_visible()
    expect(public.locator(".verdict")).to_contain_text("Geldig: dit certificaat is uitgegeven door")
    summary = public.locator("dl")
    expect(summary).to_contain_text("Gerecycled polypropeen (spuitgietregranulaat)")
    expect(summary.locator("dt", has_text="Uitgegeven op").locator("+ dd")).to_have_text(re.compile(rf"^{DAY}$"))
    assert public.locator("html").get_attribute("lang") == "nl"
    shot(public, artifacts_dir, "i16-dutch-4-verify-page")
    public.goto(f"{live_server}/verify")
    expect(public.get_by_role("heading", name="Een certificaatbestand controleren")).to_be_visible()
    public.context.close()

    english = browser.new_context(locale="en-GB").new_page()
    english.goto(f"{live_server}/verify/{number}")
    expect(english.locator(".verdict")).to_contain_text("Valid: this certificate was issued by")
    english.context.close()
