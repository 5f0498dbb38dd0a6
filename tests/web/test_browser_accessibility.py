"""Lab staff work the pages by keyboard and barcode scanner, some through a screen reader or at
high zoom: every kind of page each role reaches, and the public /login and /verify pages, pass
axe-core's WCAG 2.0/2.1 A and AA rules (and its best practices) in Chromium."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from werkzeug.exceptions import HTTPException

from analytics import train
from lims.kernel.models.analytics import ModelDriftReport, Prediction
from tests.analytics.test_grade_model import by_process, synthetic
from tests.support.models import version_without_artifact
from tests.web import seed
from tests.web.test_browser import login
from tests.web.test_link_crawl import crawl
from tests.web.test_pages import _certify, log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}}
ROLES = ["tech", "reviewer", "engineer", "admin", "polyvorm"]


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
    """Samples waiting for results, for review, for a certificate and certified; a model version
    with its metrics, a prediction for the lot and a drift report. Returns the certificate's number."""
    seed.seed_reference(session_factory)
    lot = seed.lot_with_samples(session_factory, 4)
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
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    axe = Axe()
    found: dict[str, list[str]] = {}
    try:
        for username, paths in pages.items():
            if username:
                login(page, live_server, username)
            for path in paths:
                page.goto(f"{live_server}{path}")
                page.wait_for_load_state("networkidle")
                for violation in axe.run(page, options=RULES).response["violations"]:
                    found.setdefault(violation["id"], []).extend(
                        f"{username or 'anonymous'} {path} {' '.join(n['target'])}: {n['html'][:120]}" for n in violation["nodes"]
                    )
            context.clear_cookies()
    finally:
        context.close()
    for rule, nodes in sorted(found.items()):
        print(rule, len(nodes), *nodes[:8], sep="\n  ")
    assert {rule: len(nodes) for rule, nodes in found.items()} == {}
