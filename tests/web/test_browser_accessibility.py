"""Lab staff work the pages by keyboard and barcode scanner, some through a screen reader or at
high zoom: every kind of page each role reaches, and the public /login and /verify pages, pass
axe-core's WCAG 2.0/2.1 A and AA rules (and its best practices) in Chromium; so do the forms
shown again after a refusal, the error pages and the pages a scan or a verification changed, in
English and in Dutch. Two checks axe-core does not make are made here: chart lines stand out
3:1 (WCAG 1.4.11), and a field's error is tied to the field, so a screen reader says it there."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from analytics import train
from ingest.store import Point, open_store
from lims import throttle
from lims.kernel.clock import utcnow
from lims.kernel.models import Installation
from lims.kernel.models.analytics import ModelDriftReport, Prediction
from tests.analytics.test_grade_model import by_process, synthetic
from tests.support.models import version_without_artifact
from tests.web import seed
from tests.web.test_browser import login
from tests.web.test_link_crawl import crawl
from tests.web.test_pages import _certify, csrf_token, log_in, store_unreachable

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}}
ROLES = ["tech", "reviewer", "engineer", "admin", "polyvorm"]

# WCAG 1.4.11, which axe-core does not check: the lines a chart is read by (its axes, alarm
# limits and mean) need 3:1 against what they are drawn on. `faint` lists a colour seen on a
# background (alpha blended) that falls short of the ratio asked.
CONTRAST = """
  const rgba = (c) => { const v = (c.match(/[\\d.]+/g) || []).map(Number); return v.length === 3 ? [...v, 1] : v; };
  const luminance = (rgb) => { const [r, g, b] = rgb.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const behind = (el) => { for (let e = el; e; e = e.parentElement) { const c = rgba(getComputedStyle(e).backgroundColor); if (c[3] > 0) return c; } return [255, 255, 255, 1]; };
  const faint = (what, [r, g, b, alpha], back, needed) => {
    const seen = [r, g, b].map((v, i) => v * alpha + back[i] * (1 - alpha));
    const [hi, lo] = [luminance(seen), luminance(back.slice(0, 3))].sort((x, y) => y - x);
    const ratio = (hi + 0.05) / (lo + 0.05);
    return ratio < needed ? [`${what} rgba(${r}, ${g}, ${b}, ${alpha}) on rgb(${back.slice(0, 3)}): ${ratio.toFixed(2)}:1`] : [];
  };
"""
FAINT_CHART_LINES = """() => {""" + CONTRAST + """
  return [...document.querySelectorAll("svg.chart .axis, svg.chart .limit, svg.chart .mean")].flatMap((el) => {
    const style = getComputedStyle(el);
    const [r, g, b, a] = rgba(style.stroke);
    const alpha = a * Number(style.strokeOpacity) * Number(style.opacity);
    return faint(`svg.chart ${el.tagName}.${el.getAttribute("class")}`, [r, g, b, alpha], behind(el.ownerSVGElement), 3);
  });
}"""

# uPlot draws the installation charts on a canvas, where the lines are no elements to style:
# the page's uPlot is wrapped before it loads, so each chart it makes can be asked for the
# colours it strokes with, and the lines its own draw hooks add (the alarm limits) are noted as
# they are stroked. A script for every page of a browser context, before the page's own.
WATCH_UPLOT = """(() => {
  const plots = window.recyclabPlots = [];
  let wrapped;
  Object.defineProperty(window, "uPlot", { configurable: true, get: () => wrapped, set: (uPlot) => {
    wrapped = Object.assign(function (opts, data, target) {
      const hooks = opts.hooks || {};
      hooks.draw = (hooks.draw || []).map((hook) => (u) => {
        const stroke = u.ctx.stroke;
        u.ctx.stroke = function (...args) { u.recyclabHookLines.add(this.strokeStyle); return stroke.apply(this, args); };
        try { return hook(u); } finally { delete u.ctx.stroke; }
      });
      const u = new uPlot({ ...opts, hooks }, data, target);
      u.recyclabHookLines = u.recyclabHookLines || new Set();
      plots.push(u);
      return u;
    }, uPlot);
  } });
})();"""

# The series, the axes' tick marks (they place a value, as the SVG axis does; the grid behind
# is only a guide), the axes' labels (text: 4.5:1) and the lines the draw hooks add, of every
# uPlot chart on the page, against the card the chart stands on.
CANVAS_CHART_LINES = """() => {""" + CONTRAST + """
  const canvas = document.createElement("canvas").getContext("2d");
  const colour = (c) => {
    canvas.fillStyle = "#000"; canvas.fillStyle = c; c = canvas.fillStyle;
    return c.startsWith("#") ? [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16)).concat(1) : rgba(c);
  };
  const value = (v, u, i) => (typeof v === "function" ? v(u, i) : v);
  return (window.recyclabPlots || []).flatMap((u) => {
    const back = behind(u.root);
    const lines = [];
    u.series.forEach((s, i) => { if (i > 0 && s.show && s.width > 0) lines.push([`series ${s.label}`, value(s.stroke, u, i), 3]); });
    u.axes.forEach((a, i) => {
      if (!a.show) return;
      lines.push([`axis ${i} labels`, value(a.stroke, u, i), 4.5]);
      if (a.ticks.show && a.ticks.width > 0) lines.push([`axis ${i} ticks`, value(a.ticks.stroke, u, i), 3]);
      if (a.border.show && a.border.width > 0) lines.push([`axis ${i} border`, value(a.border.stroke, u, i), 3]);
    });
    for (const c of u.recyclabHookLines || []) lines.push(["drawn by a hook", c, 3]);
    return lines.map(([what, c, needed]) => ({ what, faint: faint(`uPlot ${u.root.closest("[data-sensor]")?.dataset.sensor} ${what}`, colour(c), back, needed) }));
  });
}"""

# A field's error message that a screen reader does not announce on the field: neither tied to
# a field marked invalid (aria-describedby) nor inside an alert.
UNTIED_FIELD_ERRORS = """() => {
  const describing = new Set([...document.querySelectorAll('[aria-invalid="true"][aria-describedby]')]
    .flatMap((field) => field.getAttribute("aria-describedby").split(/\\s+/)));
  return [...document.querySelectorAll(".field-error")]
    .filter((e) => e.textContent.trim() && !e.closest('[role="alert"]') && !describing.has(e.id))
    .map((e) => e.textContent.trim());
}"""


def check(page: Page, axe: Axe, found: dict[str, list[str]], who: str, settled: str = "networkidle") -> None:
    """axe-core's rules, the chart lines' contrast and the field errors' ties on the page as it
    stands, into `found`. settled="load" for a page that fetches nothing after loading."""
    page.wait_for_load_state(settled)
    where = f"{who} {urlsplit(page.url).path}"
    for violation in axe.run(page, options=RULES).response["violations"]:
        found.setdefault(violation["id"], []).extend(
            f"{where} {' '.join(n['target'])}: {n['html'][:120]}" for n in violation["nodes"]
        )
    found.setdefault("non-text-contrast", []).extend(f"{where} {line}" for line in page.evaluate(FAINT_CHART_LINES))
    for line in page.evaluate(CANVAS_CHART_LINES):
        found["non-text-contrast"].extend(f"{where} {faint}" for faint in line["faint"])
    found.setdefault("field-error-untied", []).extend(f"{where} {e}" for e in page.evaluate(UNTIED_FIELD_ERRORS))


def watched_context(browser, locale: str):
    """A browser context whose pages' uPlot charts CANVAS_CHART_LINES can check."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)
    context.add_init_script(WATCH_UPLOT)
    return context


def violations(found: dict[str, list[str]]) -> dict[str, int]:
    for rule, nodes in sorted(found.items()):
        if nodes:
            print(rule, len(nodes), *nodes[:8], sep="\n  ")
    return {rule: len(nodes) for rule, nodes in found.items() if nodes}


def kinds_of_page(app, username: str, seen: set[str]) -> list[str]:
    """The role's start page (its menu is its own) and the first page of each endpoint it
    reaches by links that no role before it was shown: one sample page stands for all."""
    client = app.test_client()
    log_in(client, username)
    adapter = app.url_map.bind("localhost")
    paths = ["/"]
    for path, status in crawl(client).items():
        try:
            endpoint, _ = adapter.match(urlsplit(path).path)
        except HTTPException:
            continue
        if status == 200 and endpoint not in seen and client.get(path).content_type.startswith("text/html"):
            seen.add(endpoint)
            paths.append(path)
    return paths


def lab_in_every_state(app, session_factory) -> str:
    """Samples waiting for results, for review, for a certificate and certified; the lot's process
    data (drawn on its page); a model version with its metrics, a prediction for the lot and a
    drift report. Returns the certificate's number."""
    seed.seed_reference(session_factory)
    lot = seed.lot_with_samples(session_factory, 4)
    store = open_store(app.config["RECYCLAB"])
    ended = utcnow() - timedelta(hours=1)  # as the lot's production
    store.write([Point("ntk-ext1", "melt_temp_c", ended - timedelta(minutes=m), 230.0 + m % 7) for m in range(0, 120, 5)])
    store.close()
    codes = lot.sample_codes
    seed.submit_all(session_factory, codes[1])
    seed.submit_all(session_factory, codes[2])
    seed.verify_all(session_factory, codes[2])
    metrics = train.fit(synthetic(300, by_process), ["x", "z"], max_iter=20).metrics
    with session_factory.begin() as s:
        version = version_without_artifact("grade-a11y", metrics["classes"], metrics=metrics, status="production")
        s.add(version)
        s.flush()
        s.add(Prediction(lot_id=lot.lot_id, model_version_id=version.id, predicted_grade="B",
                         probabilities={"A": 0.3, "B": 0.6, "C": 0.1}, top_features=[], out_of_training_range=False))
        s.add(ModelDriftReport(model_version=version, since=version.created_at, until=version.created_at, lots=1,
                               level="major", features=[
                                   {"feature": "x", "psi": 0.4, "n_recent": 1, "level": "major"},
                                   {"feature": "z", "psi": 0.15, "n_recent": 1, "level": "moderate"},
                                   {"feature": "y", "psi": 0.01, "n_recent": 1, "level": "stable"},
                                   {"feature": "w", "psi": None, "n_recent": 0, "level": "no data"}]))
    return _certify(app, session_factory, codes[3])


def test_every_kind_of_page_each_role_sees_passes_the_wcag_aa_rules(app, live_server, browser, session_factory):
    number = lab_in_every_state(app, session_factory)
    seen: set[str] = set()
    pages = {username: kinds_of_page(app, username, seen) for username in ROLES}
    pages[""] = ["/login", "/verify", f"/verify/{number}", "/verify/NTK-COA-2026-999999"]
    # axe-core goes into the page through the DevTools protocol (page.evaluate), which the page's
    # Content-Security-Policy does not govern: no bypass_csp, so the pages are checked as shipped.
    context = watched_context(browser, "en-GB")
    page = context.new_page()
    axe = Axe()
    found: dict[str, list[str]] = {}
    try:
        for username, paths in pages.items():
            if username:
                login(page, live_server, username)
            for path in paths:
                page.goto(f"{live_server}{path}")
                check(page, axe, found, username or "anonymous")
            context.clear_cookies()
    finally:
        context.close()
    assert violations(found) == {}


def submit_login(page: Page, base: str, username: str, password: str) -> None:
    """The login form in whatever language the page is in."""
    page.goto(f"{base}/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    page.locator("main form button[type=submit]").click()


def refused_and_updated_states(page: Page, base: str, app, axe: Axe, found: dict[str, list[str]], lab: dict[str, str]) -> None:
    """Each kind of answer that is not a page reached by a link, in the page's language: forms
    shown again after a refusal, error pages, and pages that scripts changed in place."""
    def seen(who: str) -> None:
        check(page, axe, found, f"{page.locator('html').get_attribute('lang')} {who}", settled="load")

    submit_login(page, base, "tech", "not-the-password")
    seen("anonymous refused login")
    page.goto(f"{base}/verify")
    upload = page.locator("input[type=file]")
    upload.set_input_files({"name": "certificate.pdf", "mimeType": "application/pdf", "buffer": b""})
    page.locator("main form button[type=submit]").click()
    seen("anonymous empty upload")
    if lab["language"] == "en":
        expect(upload).to_have_attribute("aria-invalid", "true")
        expect(upload).to_have_accessible_description(re.compile("The file is empty"))
    upload.set_input_files({"name": "certificate.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.7 not a certificate"})
    page.locator("main form button[type=submit]").click()
    seen("anonymous rejected file")
    page.goto(f"{base}/no-such-page")
    seen("anonymous 404")

    submit_login(page, base, "tech", seed.PASSWORDS["tech"])
    seen("tech start page")
    page.goto(f"{base}/lab/lots/new")
    page.locator("input[name=code]").fill(f"A11Y-{lab['language']}")
    page.locator("input[name=production_start]").fill("31/02/2026 08:00")
    page.locator("main form").evaluate("form => { form.noValidate = true; }")  # as a browser without validation sends it
    page.locator("main form button[type=submit]").click()
    seen("tech refused lot")
    if lab["language"] == "en":
        # A screen reader on the refused field reads the reason with it.
        start = page.get_by_label("Production start")
        expect(start).to_have_attribute("aria-invalid", "true")
        expect(start).to_have_accessible_description("give a date and time like 29/11/2026 14:00")
        expect(page.get_by_label("Lot code")).not_to_have_attribute("aria-invalid", "true")
    page.goto(f"{base}/lab/samples/{lab['open']}")
    seen("tech sample page")
    page.goto(f"{base}/lab/samples/{lab['open']}/worksheet")
    value = page.locator("input[data-evaluate]").first
    value.fill("12..5")
    expect(value).to_have_attribute("aria-invalid", "true")  # the live check's message is said on the field
    page.locator("form[data-worksheet] button[type=submit]").click()
    seen("tech refused results")
    value.fill("12.5")
    expect(value).not_to_have_attribute("aria-invalid", "true")  # and no longer once corrected
    page.goto(f"{base}/lab/receive")
    for code in (lab["unreceived"], "NTK-1999-000000"):
        page.keyboard.type(code)
        page.keyboard.press("Enter")
    expect(page.locator("#receive-log li.flash")).to_have_count(2)
    seen("tech after two scans")
    page.goto(f"{base}/admin/users")
    seen("tech 403")
    page.goto(f"{base}/lab/samples/NTK-1999-000000")
    seen("tech 404")
    page.context.clear_cookies()

    submit_login(page, base, "reviewer", seed.PASSWORDS["reviewer"])
    seen("reviewer start page")
    rows = page.locator(f"tr:has(a:text-is('{lab['submitted']}')) input[name=analysis]")
    rows.first.check()
    page.locator("button[formaction$='/review/retract']").click()  # without the reason it needs
    seen("reviewer refused retraction")
    for box in rows.all():
        box.check()
    page.locator(".toolbar button[type=submit]").first.click()
    seen("reviewer after verifying")
    page.context.clear_cookies()

    submit_login(page, base, "engineer", seed.PASSWORDS["engineer"])
    seen("engineer start page")
    with store_unreachable(app):
        page.goto(f"{base}/process/installations/ntk-ext1/charts/melt_temp_c/csv?range=1h")
        seen("engineer 503")
    page.context.clear_cookies()

    if lab.get("guessed"):
        # Failed logins for one account from this address, until the next try is held off.
        client = app.test_client()
        for _ in range(throttle.FREE_FAILURES + 2):
            client.post("/login", data={"username": lab["guessed"], "password": "guess", "csrf_token": csrf_token(client)})
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            submit_login(page, base, lab["guessed"], "guess")
        assert answer.value.status == 429
        seen("anonymous 429")


def test_refused_forms_error_pages_changed_pages_and_dutch_pages_pass_the_wcag_aa_rules(app, live_server, browser, session_factory):
    """Forms shown again with their errors, error pages and what a scan or a verification changes
    in place, in English and in Dutch (the browser's language); a refused field's error is read
    with the field."""
    seed.seed_reference(session_factory)
    lot = seed.lot_with_samples(session_factory, 4)
    fresh = seed.lot_with_samples(session_factory, 2, receive=False)
    for code in lot.sample_codes[2:]:
        seed.submit_all(session_factory, code)
    labs = [
        {"language": language, "open": lot.sample_codes[i], "submitted": lot.sample_codes[2 + i], "unreceived": fresh.sample_codes[i]}
        for i, language in enumerate(["en", "nl"])
    ]
    # Once, at the very end: the failures count against this address too, and a blocked address
    # would keep the later logins out.
    labs[-1]["guessed"] = "vezelwerk"
    axe = Axe()
    found: dict[str, list[str]] = {}
    for lab, locale in zip(labs, ["en-GB", "nl-NL"], strict=True):
        context = watched_context(browser, locale)
        try:
            refused_and_updated_states(context.new_page(), live_server, app, axe, found, lab)
        finally:
            context.close()
    assert violations(found) == {}


def test_the_lines_an_engineer_reads_the_installation_charts_by_stand_out_from_the_card(app, live_server, browser, session_factory):
    """The mean, the min-max band's edges, the dashed alarm limits, the tick marks and the axis
    labels of the uPlot charts on the installation page, with data near the alarm limits."""
    seed.seed_reference(session_factory)
    with session_factory() as s:
        sensors = s.scalar(select(Installation).where(Installation.key == "ntk-ext1")).sensors
        low, high = next((x.alarm_low, x.alarm_high) for x in sensors if x.key == "melt_temp_c")
    store = open_store(app.config["RECYCLAB"])
    now = utcnow()
    store.write([Point("ntk-ext1", "melt_temp_c", now - timedelta(minutes=m), low + (high - low) * (m % 7) / 6) for m in range(60)])
    store.close()
    context = watched_context(browser, "en-GB")
    try:
        page = context.new_page()
        login(page, live_server, "engineer")
        page.goto(f"{live_server}/process/installations/ntk-ext1?range=1h")
        expect(page.locator('.sensor-chart[data-sensor="melt_temp_c"]')).to_have_attribute("data-limits-drawn", "2")
        lines = page.evaluate(CANVAS_CHART_LINES)
    finally:
        context.close()
    assert {"series min", "series max", "axis 0 ticks", "axis 1 ticks", "drawn by a hook"} <= {line["what"] for line in lines}
    assert [faint for line in lines for faint in line["faint"]] == []
