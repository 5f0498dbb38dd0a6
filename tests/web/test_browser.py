"""Each role's main path through the pages in headless Chromium, with screenshots under
test-artifacts/web/ for a person to look at."""

from __future__ import annotations

import dataclasses
import re
import threading
import time
import uuid
from datetime import timedelta

import orjson
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from ingest.alarms import AlarmTracker
from ingest.records import LimsRecorder
from ingest.service import IngestConfig, Ingester
from ingest.status import STATUS_FILE
from ingest.store import Point, open_store
from ingest.validate import Validator
from lims.certificates import issuing
from lims.kernel.clock import utcnow
from lims.kernel.models import Analysis, Sample
from lims.seed import seed_installations
from tests.ingest.support import IngesterThread, Publisher, private_config
from tests.web import seed

pytestmark = pytest.mark.browser


def login(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(seed.PASSWORDS[username])
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def logout(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()


def shot(page: Page, artifacts_dir, name: str) -> None:
    folder = artifacts_dir / "web"
    folder.mkdir(exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_technician_registers_a_lot_receives_by_barcode_and_enters_results(
    live_server, browser_page, session_factory, artifacts_dir
):
    seed.seed_reference(session_factory)
    page = browser_page
    login(page, live_server, "tech")
    page.get_by_role("link", name="Register lot and samples").click()
    page.get_by_label("Lot code").fill("EXT1-2026-0412")
    page.get_by_label("Installation").select_option("ntk-ext1")
    page.get_by_label("Material").select_option("pp")
    page.get_by_label("Owner (customer)").select_option("polyvorm")
    page.get_by_label("Production start").fill("2026-11-29T08:00")
    page.get_by_label("Production end").fill("2026-11-29T16:00")
    page.get_by_label("Number of samples").fill("2")
    page.get_by_label("Storage location").fill("rack B3")
    shot(page, artifacts_dir, "tech-1-register-form")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_text("Lot EXT1-2026-0412 registered")).to_be_visible()
    codes = page.locator("table a[href*='/lab/samples/']").all_inner_texts()
    assert len(codes) == 2 and all(re.fullmatch(r"NTK-\d{4}-\d{6}", c) for c in codes)
    expect(page.get_by_role("link", name="PDF").first).to_have_attribute("href", re.compile(r"/label\?format=pdf"))
    shot(page, artifacts_dir, "tech-2-lot-registered")

    # A barcode scanner types the ID followed by Enter, and the next label is often scanned
    # before the answer to the previous one is back.
    page.get_by_role("link", name="Samples", exact=True).click()
    page.get_by_role("link", name="Receive", exact=True).click()
    page.wait_for_url("**/lab/receive")
    page.wait_for_load_state("load")
    # Each scan adds a line to the log: the page itself never navigates.
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: frame == page.main_frame and navigations.append(frame.url))
    scan = page.get_by_label("Sample ID")
    expect(scan).to_be_focused()
    for code in ("NTK-1999-000000", *codes):
        page.keyboard.type(code)
        page.keyboard.press("Enter")
    log = page.get_by_test_id("receive-log").get_by_role("listitem")
    expect(log).to_have_count(3)
    expect(log.nth(0)).to_contain_text(f"Received {codes[1]}")
    expect(log.nth(1)).to_contain_text(f"Received {codes[0]}")
    expect(log.nth(2)).to_contain_text("NTK-1999-000000 not found")
    expect(scan).to_be_focused()
    expect(scan).to_have_value("")
    assert navigations == []
    shot(page, artifacts_dir, "tech-3-received")
    # A reload keeps what was received today; the refused scan was no receipt.
    page.reload()
    expect(log).to_have_count(2)
    expect(log.nth(0)).to_contain_text(f"Received {codes[1]}")
    expect(log.nth(1)).to_contain_text(f"Received {codes[0]}")
    expect(scan).to_be_focused()
    label = page.request.get(f"{live_server}/api/v1/samples/{codes[0]}/label?format=pdf")
    assert label.ok and label.body().startswith(b"%PDF")

    page.goto(f"{live_server}/lab/samples/{codes[0]}/worksheet")
    values = page.locator("input[data-evaluate]")
    count = values.count()
    assert count >= 3
    # A value past every grade's limit is flagged off-spec while typing, before anything is
    # submitted; an impossible one is refused under the field instead.
    first = values.first
    flag_id = first.get_attribute("data-flag")
    with session_factory() as s:
        failing = seed.out_of_spec_value(s, s.get(Analysis, int(flag_id.split("-")[1])))
    first.fill(failing)
    flag = page.locator(f"#{flag_id}")
    expect(flag).to_have_text("off-spec")
    with session_factory() as s:
        sample = s.scalar(select(Sample).where(Sample.code == codes[0]))
        good = {a.id: seed.in_spec_value(s, a) for a in sample.analyses}
    for i in range(count):
        box = values.nth(i)
        box.fill(good[int(box.get_attribute("name").split("-")[1])])
    expect(flag).to_have_text("A")  # the middle of the best grade's limits costs nothing
    shot(page, artifacts_dir, "tech-4-worksheet")
    page.set_viewport_size({"width": 768, "height": 1024})  # a lab tablet in portrait
    expect(flag).to_be_in_viewport()  # the flag sits under the value, not in a scrolled-off column
    page.wait_for_timeout(300)  # let the relayout settle before the full-page screenshot
    shot(page, artifacts_dir, "tablet-worksheet")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="Submit results").click()
    expect(page.get_by_text(f"{count} result(s) submitted")).to_be_visible()
    expect(page.locator("h1 .badge")).to_have_text("to be verified")
    shot(page, artifacts_dir, "tech-5-submitted")
    page.get_by_role("button", name="NL").click()
    expect(page.locator("h1 .badge")).to_have_text("te verifiëren")
    expect(page.get_by_role("link", name="Monsters", exact=True)).to_be_visible()
    shot(page, artifacts_dir, "tech-6-dutch")


def test_reviewer_verifies_others_results_and_certifies(
    live_server, browser_page, session_factory, artifacts_dir
):
    seed.seed_reference(session_factory)
    lot = seed.lot_with_samples(session_factory, 1)
    code = lot.sample_codes[0]
    seed.submit_all(session_factory, code, "tech")
    page = browser_page
    login(page, live_server, "reviewer")
    expect(page.get_by_role("heading", name="Results to verify")).to_be_visible()
    rows = page.locator("input[name=analysis]")
    assert rows.count() >= 3
    shot(page, artifacts_dir, "reviewer-1-queue")
    page.get_by_label("Tick all").check()
    page.get_by_role("button", name="Verify ticked results").click()
    expect(page.get_by_text(re.compile(r"\d+ results verified"))).to_be_visible()
    expect(page.get_by_text("Nothing to verify.")).to_be_visible()
    ready = page.locator("tr", has_text=code)
    expect(ready.locator(".grade")).to_have_text(re.compile(r"\S+"))
    shot(page, artifacts_dir, "reviewer-2-ready-to-certify")
    ready.get_by_role("button", name="Certify").click()
    expect(page.get_by_text(re.compile(r"Certificate \S+ issued for " + code))).to_be_visible()
    page.get_by_role("link", name="Certificates").click()
    expect(page.locator("tr[data-certificate]")).to_have_count(1)
    shot(page, artifacts_dir, "reviewer-3-certificates")


def _certified_sample(session_factory, settings) -> str:
    lot = seed.lot_with_samples(session_factory, 1)
    code = lot.sample_codes[0]
    seed.submit_all(session_factory, code, "tech")
    seed.verify_all(session_factory, code, "reviewer")
    with session_factory.begin() as s:
        sample = s.scalar(select(Sample).where(Sample.code == code))
        issuer = issuing.Issuer.from_settings(settings)
        return issuing.issue_for_sample(s, issuer, seed.user(s, "reviewer"), sample).number


def test_customer_finds_downloads_and_verifies_a_certificate(
    app, live_server, browser_page, session_factory, artifacts_dir, tmp_path
):
    seed.seed_reference(session_factory)
    # Verify links are built from the configured public URL: here, the test server.
    app.config["RECYCLAB"] = dataclasses.replace(app.config["RECYCLAB"], public_url=live_server)
    number = _certified_sample(session_factory, app.config["RECYCLAB"])
    page = browser_page
    login(page, live_server, "polyvorm")
    expect(page.get_by_role("heading", name="Certificates of analysis")).to_be_visible()
    # Customers see no lab navigation.
    expect(page.get_by_role("link", name="Samples", exact=True)).to_have_count(0)
    page.get_by_label("Search").fill(number)
    page.get_by_role("button", name="Search").click()
    row = page.locator("tr[data-certificate]", has_text=number)
    expect(row).to_have_count(1)
    shot(page, artifacts_dir, "customer-1-certificates")
    with page.expect_download() as pdf:
        row.get_by_role("link", name="PDF").click()
    pdf_path = tmp_path / "c.pdf"
    pdf.value.save_as(pdf_path)
    assert pdf_path.read_bytes().startswith(b"%PDF")
    with page.expect_download() as js:
        row.get_by_role("link", name="JSON").click()
    assert number in (js.value.path()).read_text()
    verify_href = row.get_by_role("link", name="Verify").get_attribute("href")
    assert verify_href.startswith(f"{live_server}/verify/{number}?hash=")
    page.goto(verify_href)
    expect(page.get_by_text(number).first).to_be_visible()
    expect(page.get_by_text(re.compile("valid", re.I)).first).to_be_visible()
    shot(page, artifacts_dir, "customer-2-verify")


def test_engineer_sees_a_new_value_within_two_seconds(
    app, live_server, browser_page, session_factory, artifacts_dir
):
    seed.seed_reference(session_factory)
    store = open_store(app.config["RECYCLAB"])
    now = utcnow()
    store.write(
        [Point("ntk-ext1", "melt_temp_c", now - timedelta(minutes=m), 215.0 + m % 7) for m in range(60, 0, -1)]
        + [Point("ntk-ext1", "melt_temp_c", now, 212.4)]
    )
    page = browser_page
    login(page, live_server, "engineer")
    cell = page.locator('[data-sensor="ntk-ext1/melt_temp_c"] [data-live-value]')
    expect(cell).to_have_text("212.4")
    shot(page, artifacts_dir, "engineer-1-dashboard")
    written = time.monotonic()
    store.write([Point("ntk-ext1", "melt_temp_c", utcnow(), 233.7)])
    expect(cell).to_have_text("233.7", timeout=2000)
    assert time.monotonic() - written < 2.0
    store.close()

    page.get_by_role("link", name=re.compile("Regranulation line 1")).click()
    chart = page.get_by_role("img", name=re.compile("Melt temperature"))
    expect(chart).to_have_attribute("data-points", re.compile(r"[1-9]\d*"))
    shot(page, artifacts_dir, "engineer-2-charts-1h")
    page.get_by_role("button", name="24h").click()
    expect(page.get_by_role("img", name=re.compile("Melt temperature"))).to_be_visible()
    shot(page, artifacts_dir, "engineer-3-charts-24h")
    page.goto(f"{live_server}/process/alarms")
    expect(page.get_by_role("heading", name="Alarms")).to_be_visible()


def _model_version(s, lot_id: int) -> str:
    """A registered model version with the metrics analytics.train stores, and one prediction."""
    from lims.kernel.models.analytics import ModelVersion, Prediction

    classes = ["A", "B", "C", "off-spec"]
    scores = {
        "macro_f1": 0.71, "balanced_accuracy": 0.73, "accuracy": 0.78,
        "recall": dict.fromkeys(classes, 0.7),
        "confusion_matrix": [[40, 6, 1, 0], [5, 30, 4, 1], [1, 3, 20, 2], [0, 1, 2, 9]],
    }
    reliability = [
        {"bin": [i / 10, (i + 1) / 10], "confidence": i / 10 + 0.05, "accuracy": min(1, i / 10 + 0.02), "count": 5 + i * 4}
        for i in range(3, 10)
    ]
    now = utcnow()
    mv = ModelVersion(
        version="grade-test-1", status="production", promoted_at=now,
        metrics={
            "model": scores | {"ece": 0.04, "ece_uncalibrated": 0.09, "reliability": reliability},
            "majority": scores | {"macro_f1": 0.17, "balanced_accuracy": 0.25, "accuracy": 0.36},
            "logistic_regression": scores | {"macro_f1": 0.55, "balanced_accuracy": 0.57, "accuracy": 0.62},
            "classes": classes,
        },
        train_start=now - timedelta(days=60), train_end=now - timedelta(days=12),
        test_start=now - timedelta(days=12), test_end=now - timedelta(days=1), n_train=480, n_test=125,
        features=["melt_temp_c_mean"], feature_ranges={}, reference={}, classes=classes,
        artifact_path="/nonexistent", artifact_sha256="0" * 64,
    )
    s.add(mv)
    s.flush()
    s.add(Prediction(
        lot_id=lot_id, model_version_id=mv.id, predicted_grade="A",
        probabilities={"A": 0.81, "B": 0.15, "C": 0.03, "off-spec": 0.01}, top_features=[],
    ))
    return mv.version


def test_the_open_dashboard_says_so_when_the_store_stops_answering_and_when_it_is_back(
    app, live_server, browser_page, session_factory
):
    """The banner that the process data store does not answer was drawn only when the page
    loaded: a store lost afterwards left the open page saying "Live" over blanked values."""
    from ingest.store.influx_store import InfluxStore
    from tests.support.influx import free_port

    seed.seed_reference(session_factory)
    store = open_store(app.config["RECYCLAB"])
    store.write([Point("ntk-ext1", "melt_temp_c", utcnow(), 212.4)])
    page = browser_page
    login(page, live_server, "engineer")
    expect(page.locator('[data-sensor="ntk-ext1/melt_temp_c"] [data-live-value]')).to_have_text("212.4")
    banner = page.get_by_text("The process data store does not answer")
    expect(banner).to_be_hidden()
    working = app.extensions["recyclab.live_store"]
    nowhere = InfluxStore(f"http://127.0.0.1:{free_port()}", "", "recyclab", "none", timeout_s=1)
    app.extensions["recyclab.live_store"] = nowhere  # nothing listens there: every read fails
    try:
        expect(banner).to_be_visible(timeout=3000)
    finally:
        app.extensions["recyclab.live_store"] = working
        nowhere.close()
        store.close()
    expect(banner).to_be_hidden(timeout=3000)


def test_an_auto_refreshed_chart_says_so_when_its_refresh_fails(app, browser_page, session_factory):
    """The 1h charts refresh every 10 s. With the web process gone a refresh failed unseen, and
    the charts went on showing the last picture as if it were current."""
    from werkzeug.serving import make_server

    seed.seed_reference(session_factory)
    store = open_store(app.config["RECYCLAB"])
    store.write([Point("ntk-ext1", "melt_temp_c", utcnow(), 212.4)])
    store.close()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    page = browser_page
    try:
        login(page, base, "engineer")
        page.goto(f"{base}/process/installations/ntk-ext1")
        chart = page.get_by_role("img", name=re.compile("Melt temperature"))
        expect(chart).to_have_attribute("data-points", re.compile(r"[1-9]\d*"))
    finally:
        server.shutdown()
        server.server_close()
    expect(page.get_by_text("Live updates interrupted").first).to_be_visible(timeout=15_000)


def test_engineer_relates_a_lot_to_its_process_window_and_reads_the_model_pages(
    app, live_server, browser_page, session_factory, artifacts_dir
):
    seed.seed_reference(session_factory)
    lot = seed.lot_with_samples(session_factory, 1)
    code = lot.sample_codes[0]
    seed.submit_all(session_factory, code, "tech")
    seed.verify_all(session_factory, code, "reviewer")
    with session_factory.begin() as s:
        sample = s.scalar(select(Sample).where(Sample.code == code))
        start, end, grade = sample.lot.production_start, sample.lot.production_end, sample.grade
        version = _model_version(s, lot.lot_id)
    store = open_store(app.config["RECYCLAB"])
    minutes = int((end - start).total_seconds() // 60)
    store.write(
        [Point("ntk-ext1", "melt_temp_c", start + timedelta(minutes=m), 220.0 + (m % 10)) for m in range(-20, minutes + 20)]
        + [Point("ntk-ext1", "melt_pressure_in_bar", start + timedelta(minutes=m), 150.0 + m / 10) for m in range(minutes)]
    )
    store.close()
    page = browser_page
    login(page, live_server, "engineer")
    page.goto(f"{live_server}/process/lots/{lot.lot_id}")
    expect(page.get_by_role("heading", name=f"Lot {lot.lot_code}")).to_be_visible()
    melt = page.locator("tr", has_text="Melt temperature").first
    expect(melt).to_contain_text("224.5")  # mean of the window only, not the margins
    expect(page.locator(".kv")).to_contain_text(grade)
    expect(page.locator("span.id", has_text=code)).to_be_visible()
    expect(page.get_by_role("link", name=code)).to_have_count(0)  # its page is the lab's: a 403 to her
    expect(page.locator("tr", has_text="Density").first).to_contain_text("0.905")
    expect(page.locator(".kv")).to_contain_text(version)
    shot(page, artifacts_dir, "engineer-4-lot-view")

    page.get_by_role("link", name="Models").click()
    page.get_by_role("link", name=version).click()
    expect(page.locator("table.matrix").first).to_contain_text("40")
    expect(page.get_by_role("img", name="Reliability diagram")).to_be_visible()
    shot(page, artifacts_dir, "engineer-5-model")

    # The same pages on a lab tablet in portrait.
    page.set_viewport_size({"width": 768, "height": 1024})
    page.goto(f"{live_server}/process/")
    expect(page.locator('[data-sensor="ntk-ext1/melt_temp_c"]')).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 768
    shot(page, artifacts_dir, "tablet-dashboard")


@pytest.mark.mqtt
def test_engineer_sees_a_published_value_within_two_seconds_and_its_alarm(
    app, live_server, browser_page, session_factory, mqtt_broker, tmp_path, artifacts_dir
):
    """Broker -> ingester -> store -> dashboard, with a private installation so runs sharing
    the broker never see each other's messages."""
    seed.seed_reference(session_factory)
    _, inst, registry = private_config(tmp_path)
    with session_factory.begin() as s:
        seed_installations(s, tmp_path / "config" / "installations.toml")
    settings = app.config["RECYCLAB"]
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings)
    ingester = Ingester(
        IngestConfig(
            broker_url=mqtt_broker.url,
            client_id=f"web-{uuid.uuid4().hex[:10]}",
            topics=(f"recyclab/v1/{inst}/+",),
            spool_path=tmp_path / "spool.db",
            status_path=settings.var_dir / STATUS_FILE,
        ),
        store,
        LimsRecorder(session_factory, AlarmTracker(registry)),
        Validator(registry),
    )
    publisher = Publisher(mqtt_broker.host, mqtt_broker.port)

    def publish(seq: int, value: float) -> None:
        payload = orjson.dumps({"ts": int(time.time() * 1000), "seq": seq, "values": {"temp_c": value}})
        publisher.publish(f"recyclab/v1/{inst}/data", payload)

    page = browser_page
    login(page, live_server, "engineer")
    cell = page.locator(f'[data-sensor="{inst}/temp_c"] [data-live-value]')
    try:
        with IngesterThread(ingester):
            publish(1, 212.4)
            expect(cell).to_have_text("212.4", timeout=10_000)
            published = time.monotonic()
            publish(2, 260.5)  # above the alarm limit of 250
            expect(cell).to_have_text("260.5", timeout=2000)
            assert time.monotonic() - published < 2.0
            expect(page.locator(f'[data-live-state="{inst}"]')).to_have_text("alarm")
            expect(page.locator(f'[data-alarm="{inst}/temp_c"]')).to_contain_text("high")
            expect(page.locator("#alarm-count")).to_have_text("1")
            expect(page.locator("#ingest-status")).to_contain_text("values/s")
            shot(page, artifacts_dir, "engineer-6-published-alarm")
    finally:
        publisher.close()
        store.close()
