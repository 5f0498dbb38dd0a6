"""Page behaviour through the Flask test client: login, CSRF, roles, languages, error pages,
the CSV import's row errors, the live endpoint and query counts on list pages."""

from __future__ import annotations

import contextlib
import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ingest.heartbeat import Heartbeat
from ingest.status import IngestStatus
from ingest.store import Point, open_store
from lims.kernel import clock
from lims.kernel.clock import utcnow
from lims.kernel.models import Analysis, Sample, User
from tests.support.models import version_without_artifact
from tests.support.queries import statements_run
from tests.web import seed

# The demo (`make run`) serves these pages from SQLite, production from PostgreSQL.
pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client, path: str = "/login") -> str:
    return CSRF.search(client.get(path).get_data(as_text=True)).group(1)


def log_in(client, username: str):
    return client.post(
        "/login",
        data={"username": username, "password": seed.PASSWORDS[username], "csrf_token": csrf_token(client)},
    )


def test_login_sends_each_role_to_its_start_page_and_logout_ends_the_session(client, seeded):
    assert client.get("/lab/samples").headers["Location"].startswith("/login?next=/lab/samples")
    wrong = client.post("/login", data={"username": "tech", "password": "nope", "csrf_token": csrf_token(client)})
    assert wrong.status_code == 401 and "wrong password" in wrong.get_data(as_text=True)
    for username, start in [("tech", "/lab/samples"), ("reviewer", "/review/"), ("engineer", "/process/"), ("polyvorm", "/certificates/")]:
        client.get("/")  # fresh page, fresh token
        assert log_in(client, username).status_code == 302
        assert client.get("/").headers["Location"] == start
        token = csrf_token(client, start)
        assert client.post("/logout", data={"csrf_token": token}).status_code == 302
        assert client.get(start).status_code == 302


def test_background_requests_of_an_ended_session_get_401_not_a_login_form(client, seeded):
    assert client.get("/process/live.json", headers={"Accept": "application/json"}).status_code == 401
    chart = client.get("/process/installations/ntk-ext1/series", headers={"Accept": "application/json"})
    assert chart.status_code == 401


def test_login_does_not_redirect_to_another_site(client, seeded):
    response = client.post(
        "/login?next=//evil.example/x",
        data={"username": "tech", "password": seed.PASSWORDS["tech"], "csrf_token": csrf_token(client)},
    )
    assert response.headers["Location"] == "/"


def test_a_form_without_its_csrf_token_is_refused_with_an_explanation(client, seeded):
    response = client.post("/login", data={"username": "tech", "password": seed.PASSWORDS["tech"]})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "expired or was sent from elsewhere" in page and "Go back, reload the page" in page
    log_in(client, "tech")
    assert client.post("/lab/receive", data={"code": "NTK-2026-000001"}).status_code == 400


def test_roles_see_only_their_pages_and_errors_say_what_to_do(client, seeded):
    log_in(client, "polyvorm")
    nav = client.get("/certificates/").get_data(as_text=True)
    assert 'href="/lab/samples"' not in nav and 'href="/process/"' not in nav
    forbidden = client.get("/lab/samples")
    assert forbidden.status_code == 403 and "Your role does not include this page" in forbidden.get_data(as_text=True)
    missing = client.get("/no/such/page")
    assert missing.status_code == 404 and "does not exist" in missing.get_data(as_text=True)
    # The API keeps its JSON errors.
    assert client.get("/api/v1/no-such-thing").is_json


def test_customer_sees_no_foreign_sample(client, seeded):
    lot = seed.lot_with_samples(seeded, 1, owner="vezelwerk")
    log_in(client, "tech")
    assert client.get(f"/lab/samples/{lot.sample_codes[0]}").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token(client, "/lab/samples")})
    log_in(client, "polyvorm")
    assert client.get(f"/lab/samples/{lot.sample_codes[0]}").status_code == 403


def test_dutch_pages_and_amsterdam_times(client, seeded):
    lot = seed.lot_with_samples(seeded, 1)
    log_in(client, "tech")
    client.post("/lang", data={"lang": "nl", "next": "/lab/samples", "csrf_token": csrf_token(client, "/lab/samples")})
    page = client.get(f"/lab/lots/{lot.lot_id}").get_data(as_text=True)
    assert "Monsters" in page and "Productievenster" in page
    with seeded() as s:
        sample = s.scalar(select(Sample).where(Sample.code == lot.sample_codes[0]))
        registered = sample.registered_at
    from zoneinfo import ZoneInfo

    local = registered.astimezone(ZoneInfo("Europe/Amsterdam"))
    detail = client.get(f"/lab/samples/{lot.sample_codes[0]}").get_data(as_text=True)
    assert f"{local:%H:%M}" in detail
    assert 'lang="nl"' in detail


def test_worksheet_rejects_a_wrong_unit_and_saves_nothing(client, seeded):
    lot = seed.lot_with_samples(seeded, 1)
    code = lot.sample_codes[0]
    with seeded() as s:
        analyses = s.scalars(select(Analysis).join(Sample).where(Sample.code == code).order_by(Analysis.id)).all()
        good = {a.id: seed.in_spec_value(s, a) for a in analyses}
        first, second = analyses[0], analyses[1]
        unit = first.method.unit
    log_in(client, "tech")
    token = csrf_token(client, f"/lab/samples/{code}/worksheet")
    form = {"csrf_token": token, f"value-{first.id}": good[first.id], f"unit-{first.id}": unit,
            f"value-{second.id}": good[second.id], f"unit-{second.id}": "furlong"}
    response = client.post(f"/lab/samples/{code}/worksheet", data=form)
    assert response.status_code == 422
    assert "expected" in response.get_data(as_text=True) and "furlong" in response.get_data(as_text=True)
    with seeded() as s:
        assert {a.state for a in s.scalars(select(Analysis).join(Sample).where(Sample.code == code))} == {"unassigned"}
    flag = client.get(f"/lab/analyses/{first.id}/evaluate?value=999&unit={unit}").get_json()
    assert flag["evaluation"] == "out_of_spec"
    assert client.get(f"/lab/analyses/{first.id}/evaluate?value=abc&unit={unit}").get_json()["error"]


def test_csv_import_lists_every_bad_row_and_imports_nothing(client, seeded):
    lot = seed.lot_with_samples(seeded, 1)
    code = lot.sample_codes[0]
    with seeded() as s:
        a = s.scalars(select(Analysis).join(Sample).where(Sample.code == code).order_by(Analysis.id)).first()
        key, unit, value = a.method.key, a.method.unit, seed.in_spec_value(s, a)
    text = (
        "sample_id,method,value,unit\n"
        f"{code},{key},{value},{unit}\n"
        f"NTK-1999-999999,{key},{value},{unit}\n"
        f"{code},no-such-method,1,{unit}\n"
    )
    log_in(client, "tech")
    response = client.post("/lab/import", data={"text": text, "csrf_token": csrf_token(client, "/lab/import")})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    rows = re.findall(r'<tr><td class="num">(\d+)</td><td>(\w+)</td>', page)
    assert rows == [("3", "sample_id"), ("4", "method")]
    with seeded() as s:
        assert s.scalar(select(Analysis.state).where(Analysis.id == a.id)) == "unassigned"
    ok = client.post("/lab/import", data={"text": "\n".join(text.splitlines()[:2]), "csrf_token": csrf_token(client, "/lab/import")})
    assert ok.status_code == 200 and "1 result imported" in ok.get_data(as_text=True)


def test_live_endpoint_and_chart_ranges(app, client, seeded):
    store = open_store(app.config["RECYCLAB"])
    store.write([Point("ntk-ext1", "melt_temp_c", utcnow() - timedelta(seconds=1), 221.5)])
    store.close()
    log_in(client, "engineer")
    live = client.get("/process/live.json").get_json()
    melt = live["installations"]["ntk-ext1"]["sensors"]["melt_temp_c"]
    assert melt["value"] == 221.5 and melt["state"] == "ok"
    assert live["installations"]["ntk-ext1"]["state"] == "running"
    assert live["installations"]["ntk-ext2"]["state"] == "nodata"
    assert [i["badge"] for i in live["ingesters"]] == ["stale"]  # no ingester has reported
    spooling = IngestStatus()
    spooling.broker_connected, spooling.store_available = True, False
    Heartbeat(spooling, seeded, "ingest-a").beat("running")
    Heartbeat(IngestStatus(), seeded, "ingest-b").beat("stopped")
    ingesters = client.get("/process/live.json").get_json()["ingesters"]
    assert [i["ingester"] for i in ingesters] == ["ingest-a", "ingest-b"]
    a, b = ingesters
    assert a["badge"] == "alarm" and "values/s" in a["text"] and "spooling" in a["text"]
    assert b["badge"] == "stale" and "stopped" in b["text"]
    dashboard = client.get("/process/").get_data(as_text=True)
    assert 'data-ingester="ingest-a"' in dashboard and 'data-ingester="ingest-b"' in dashboard
    page = client.get("/process/installations/ntk-ext1?range=custom&start=2026-01-01T00:00&end=2026-01-02T00:00")
    assert page.status_code == 200
    chart = client.get("/process/installations/ntk-ext1/series?range=1h").get_json()["sensors"]["melt_temp_c"]
    assert chart["mean"] == [221.5] and chart["limits"] == {"low": 185.0, "high": 270.0}
    empty = client.get("/process/installations/ntk-ext1/series?range=custom&start=2026-01-01T00:00&end=2026-01-02T00:00")
    assert empty.get_json()["sensors"]["melt_temp_c"]["t"] == []
    assert client.get("/process/installations/ntk-ext1/charts/no_such_sensor/csv").status_code == 404
    bad = client.get("/process/installations/ntk-ext1?range=custom&start=2026-01-02T00:00&end=2026-01-01T00:00")
    assert bad.status_code == 422 and "the end must be after the start" in bad.get_data(as_text=True)
    assert client.get("/process/installations/ntk-ext1?range=5y").status_code == 422


def test_a_latest_reading_stamped_ahead_is_not_shown_as_live(app, client, seeded):
    """A device whose clock runs two hours ahead sent its last reading; the line (or the
    ingester) has stopped since. A reading from "the future" says nothing about whether
    data still comes in, so the dashboard must not call the sensor live for two hours: it
    shows the reading as not recent, and how far ahead it is stamped."""
    store = open_store(app.config["RECYCLAB"])
    store.write([Point("ntk-ext1", "melt_temp_c", utcnow() + timedelta(hours=2), 221.5)])
    store.close()
    log_in(client, "engineer")
    ext1 = client.get("/process/live.json").get_json()["installations"]["ntk-ext1"]
    melt = ext1["sensors"]["melt_temp_c"]
    assert melt["value"] == 221.5 and melt["state"] == "stale"
    assert melt["age"].endswith("s ahead")
    assert ext1["state"] == "stale"


def test_a_reading_stamped_ahead_does_not_hide_the_live_readings_that_follow(app, client, seeded):
    """A device clock jumped two hours ahead for one reading, then was set right; readings
    keep coming every second. The newest stamp is the one from "the future", but the live
    value is the one the line has now: the dashboard must show that one, as live, not the
    stray reading as "stale" for the two hours until the clock catches up with it."""
    store = open_store(app.config["RECYCLAB"])
    now = utcnow()
    store.write([Point("ntk-ext1", "melt_temp_c", now + timedelta(hours=2), 221.5),
                 Point("ntk-ext1", "melt_temp_c", now - timedelta(seconds=2), 215.0),
                 Point("ntk-ext1", "melt_temp_c", now - timedelta(seconds=1), 215.25)])
    store.close()
    log_in(client, "engineer")
    ext1 = client.get("/process/live.json").get_json()["installations"]["ntk-ext1"]
    melt = ext1["sensors"]["melt_temp_c"]
    assert melt["value"] == 215.25 and melt["state"] == "ok" and not melt["stale"]
    assert melt["age"].endswith("s ago")
    assert ext1["state"] == "running"


def test_an_ingester_holding_the_stream_back_is_not_shown_as_fine(client, seeded):
    """Connected to the broker, the store answering, and yet nothing is acknowledged: the
    spool's disk is full, or the LIMS database does not take the rejects and alarms. The
    ingester's badge says so, as it does for a store that is down."""
    disk_full, lims_down = IngestStatus(), IngestStatus()
    for status in (disk_full, lims_down):
        status.broker_connected = True
    disk_full.disk_full = True
    lims_down.lims_available = False
    Heartbeat(disk_full, seeded, "ingest-a").beat("running")
    Heartbeat(lims_down, seeded, "ingest-b").beat("running")
    log_in(client, "engineer")
    a, b = client.get("/process/live.json").get_json()["ingesters"]
    assert a["badge"] == "alarm" and "disk full" in a["text"]
    assert b["badge"] == "alarm" and "LIMS database" in b["text"]


def _count_queries(app, client, path: str) -> int:
    with statements_run(app) as statements:
        assert client.get(path).status_code == 200
    return len(statements)


def test_list_pages_do_not_query_per_row(app, client, seeded):
    lot = seed.lot_with_samples(seeded, 2)
    for code in lot.sample_codes:
        seed.submit_all(seeded, code)
    log_in(client, "reviewer")
    few = {p: _count_queries(app, client, p) for p in ("/lab/samples", "/review/")}
    more = seed.lot_with_samples(seeded, 6)
    for code in more.sample_codes:
        seed.submit_all(seeded, code)
    many = {p: _count_queries(app, client, p) for p in ("/lab/samples", "/review/")}
    assert many == few


def test_review_queue_never_offers_a_reviewer_their_own_results(client, seeded):
    lot = seed.lot_with_samples(seeded, 2)
    own, other = lot.sample_codes
    seed.submit_all(seeded, own, "reviewer")
    seed.submit_all(seeded, other, "tech")
    log_in(client, "reviewer")
    page = client.get("/review/").get_data(as_text=True)
    assert other in page and own not in page
    with seeded() as s:
        own_analysis = s.scalar(select(Analysis.id).join(Sample).where(Sample.code == own).limit(1))
    # Forcing it through the form is refused by the workflow service, and nothing changes.
    refused = client.post("/review/verify", data={"analysis": own_analysis, "csrf_token": csrf_token(client, "/review/")})
    assert refused.status_code == 409 and "four eyes" in refused.get_data(as_text=True)
    with seeded() as s:
        assert s.scalar(select(Analysis.state).where(Analysis.id == own_analysis)) == "submitted"


def _certify(app, session_factory, code: str) -> str:
    from lims.certificates import issuing

    seed.submit_all(session_factory, code, "tech")
    seed.verify_all(session_factory, code, "reviewer")
    with session_factory.begin() as s:
        sample = s.scalar(select(Sample).where(Sample.code == code))
        issuer = issuing.Issuer.from_settings(app.config["RECYCLAB"])
        return issuing.issue_for_sample(s, issuer, seed.user(s, "reviewer"), sample).number


# 23:30 UTC is already tomorrow in Amsterdam; the last Sundays of March and October 2026 are the
# days Europe/Amsterdam moves to summer and back to winter time.
CLOCK_MOMENTS = {
    "now": None,
    "2330-utc": datetime(2026, 12, 2, 23, 30, tzinfo=UTC),
    "dst-start": datetime(2026, 3, 28, 23, 30, tzinfo=UTC),  # 00:30 CET, 29 March
    "dst-end": datetime(2026, 10, 24, 22, 30, tzinfo=UTC),  # 00:30 CEST, 25 October
}


@pytest.fixture(params=list(CLOCK_MOMENTS))
def clock_at(request):
    """The system clock starting at the moment named by the parameter (real time for "now")."""
    moment = CLOCK_MOMENTS[request.param]
    with clock.running_from(moment) if moment else contextlib.nullcontext():
        yield moment


def test_certificates_are_filtered_and_kept_to_their_owner(app, client, seeded, clock_at):
    mine = seed.lot_with_samples(seeded, 1, owner="polyvorm")
    theirs = seed.lot_with_samples(seeded, 1, owner="vezelwerk")
    number = _certify(app, seeded, mine.sample_codes[0])
    other = _certify(app, seeded, theirs.sample_codes[0])
    log_in(client, "polyvorm")
    page = client.get("/certificates/").get_data(as_text=True)
    assert number in page and other not in page
    assert number in client.get(f"/certificates/?lot={mine.lot_code}&status=valid").get_data(as_text=True)
    assert number not in client.get("/certificates/?status=withdrawn").get_data(as_text=True)
    today = clock.today_in("Europe/Amsterdam").isoformat()
    if clock_at is not None:
        assert today == (clock_at + timedelta(hours=2)).date().isoformat()
    day_first = clock.today_in("Europe/Amsterdam").strftime("%d/%m/%Y")
    assert f'name="issued_to" value="{day_first}"' in page  # the page's "today" is the lab's
    assert number in client.get(f"/certificates/?issued_from={today}&issued_to={today}").get_data(as_text=True)
    bad = client.get("/certificates/?status=lost")
    assert bad.status_code == 422 and "status" in bad.get_data(as_text=True)


def test_retest_retract_and_invalidate_from_the_pages(app, client, seeded):
    lot = seed.lot_with_samples(seeded, 2)
    tested, certified = lot.sample_codes
    seed.submit_all(seeded, tested, "tech")
    number = _certify(app, seeded, certified)
    with seeded() as s:
        first, second = s.scalars(select(Analysis.id).join(Sample).where(Sample.code == tested).order_by(Analysis.id).limit(2))
    log_in(client, "reviewer")
    token = csrf_token(client, "/review/")
    assert client.post("/review/retract", data={"analysis": first, "reason": "", "csrf_token": token}).status_code == 422
    assert client.post("/review/retract", data={"reason": "x", "csrf_token": token}).status_code == 422
    assert client.post("/review/retract", data={"analysis": first, "reason": "drift on the balance", "csrf_token": token}).status_code == 302
    assert client.post(f"/lab/analyses/{second}/retest", data={"reason": "outlier", "csrf_token": token}).status_code == 302
    with seeded() as s:
        rows = s.execute(
            select(Analysis.state, Analysis.retest_of_id).join(Sample).where(Sample.code == tested).order_by(Analysis.id)
        ).all()
    assert rows[0].state == rows[1].state == "retracted"
    assert {(r.state, r.retest_of_id) for r in rows[-2:]} == {("unassigned", first), ("unassigned", second)}
    assert "drift on the balance" in client.get(f"/lab/samples/{tested}").get_data(as_text=True)

    invalidated = client.post(f"/review/samples/{certified}/invalidate", data={"reason": "mixed up with another lot", "csrf_token": token})
    assert invalidated.status_code == 302
    assert "invalid" in client.get(f"/lab/samples/{certified}").get_data(as_text=True)
    listing = client.get(f"/certificates/?q={number}").get_data(as_text=True)
    assert re.search(r'badge withdrawn', listing)


def test_lab_lot_page_shows_the_model_prediction(client, seeded):
    from lims.kernel.models.analytics import Prediction

    lot = seed.lot_with_samples(seeded, 1, receive=False)
    log_in(client, "tech")
    assert "no model prediction available" in client.get(f"/lab/lots/{lot.lot_id}").get_data(as_text=True)
    with seeded.begin() as s:
        mv = version_without_artifact("grade-x", ["A", "B"], status="production")
        s.add(mv)
        s.flush()
        s.add(Prediction(lot_id=lot.lot_id, model_version_id=mv.id, predicted_grade="B",
                         probabilities={"A": 0.3, "B": 0.7}, top_features=[], out_of_training_range=True))
    shown = client.get(f"/lab/lots/{lot.lot_id}").get_data(as_text=True)
    assert re.search(r'predicted-grade"><span class="grade">B</span>', shown)
    assert "grade-x, 70 %" in shown and "outside the training range" in shown
    # A version registered without metrics still has readable pages.
    client.post("/logout", data={"csrf_token": csrf_token(client, "/lab/samples")})
    log_in(client, "engineer")
    assert "grade-x" in client.get("/models/").get_data(as_text=True)
    version = client.get("/models/grade-x")
    assert version.status_code == 200 and "No calibration data stored" in version.get_data(as_text=True)
    assert client.get("/models/no-such-version").status_code == 404


def test_model_page_shows_baselines_alarm_groups_and_why_a_model_is_not_served(client, seeded):
    from analytics import train
    from tests.analytics.test_grade_model import (
        ACCEPTANCE,
        FEATURES,
        by_process,
        by_property,
        synthetic,
    )

    good = train.fit(synthetic(1200, by_process), ["x", "z"], max_iter=40).metrics
    plain = train.fit(synthetic(400, lambda row, rng: "A" if row["material"] == "m0" else "B"), ["x", "z"], max_iter=20).metrics
    graded = train.fit(by_property(600), FEATURES, max_iter=20, acceptance=ACCEPTANCE).metrics
    with seeded.begin() as s:
        for name, metrics in (("grade-good", good), ("grade-plain", plain), ("grade-graded", graded)):
            s.add(version_without_artifact(name, metrics["classes"], metrics=metrics))
    log_in(client, "engineer")
    page = client.get("/models/grade-good").get_data(as_text=True)
    assert "Not served" not in page
    for shown in ("usual grade", "previous lot", "Off-spec alarm", "Per material", "Per installation", "m0", "l1"):
        assert shown in page, page[page.find("<table"):page.find("</table>")]
    assert "would give the predicted properties" not in page  # trained without grade limits
    low, high = good["per_material"]["m0"]["macro_f1_interval"]
    assert "90 % interval" in page and f"{low:.2f}–{high:.2f}" in page  # how much of m0's figure is luck
    page = client.get("/models/grade-plain").get_data(as_text=True)
    assert re.search(r"Not served.*not beaten: [^)]*the material(&#39;|')s usual grade", page, re.S)
    # A calibration slice without an off-spec lot chooses no threshold: the page said the
    # alarm was "raised when the off-spec probability reaches –".
    assert plain["off_spec"]["threshold"] is None
    assert "Raised only when off-spec is the most probable grade" in page and "reaches –" not in page
    assert "off-spec alarm on the most probable grade only" in train.summary(plain)
    page = client.get("/models/grade-graded").get_data(as_text=True)
    parts = graded["grade_from_properties"]
    assert f"On the {parts['lots']} test lots it covers, its macro F1 alone is {parts['properties_macro_f1']:.3f}" in page
    listing = client.get("/models/").get_data(as_text=True)
    assert re.search(r"grade-plain.*?no: [^<]*the material(&#39;|')s usual grade", listing, re.S)
    assert "candidate" in listing
    # The model's status texts in Dutch, as the rest of the page.
    client.post("/lang", data={"lang": "nl", "next": "/models/", "csrf_token": csrf_token(client, "/models/")})
    page = client.get("/models/grade-plain").get_data(as_text=True)
    assert re.search(r"Niet in gebruik.*niet verslagen: [^)]*de gebruikelijke kwaliteit van het materiaal", page, re.S)
    assert "kandidaat" in page and "candidate" not in page


def test_refusals_and_failures_get_pages_that_say_what_to_do(app, client, seeded):
    def boom():
        raise RuntimeError("disk on fire")

    app.add_url_rule("/lab/boom", "boom", boom)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    lot = seed.lot_with_samples(seeded, 1)
    log_in(client, "tech")
    token = csrf_token(client, "/lab/samples")
    twice = client.post(f"/lab/samples/{lot.sample_codes[0]}/receive", data={"csrf_token": token})
    assert twice.status_code == 409 and "cannot receive" in twice.get_data(as_text=True)
    failed = client.get("/lab/boom")
    page = failed.get_data(as_text=True)
    assert failed.status_code == 500 and "Nothing was saved" in page and "disk on fire" not in page
    unknown = client.get("/lab/samples/NTK-1999-000000")
    assert unknown.status_code == 404 and "sample NTK-1999-000000 not found" in unknown.get_data(as_text=True)


def test_reviewer_certifies_a_lot_once_every_sample_is_verified(client, seeded):
    from lims.kernel.models.certificate import Certificate

    lot = seed.lot_with_samples(seeded, 2)
    first, second = lot.sample_codes
    for code in lot.sample_codes:
        seed.submit_all(seeded, code, "tech")
    seed.verify_all(seeded, first, "reviewer")
    log_in(client, "reviewer")
    # The page offers the button only when issuing would take it, and otherwise says why not.
    page = client.get(f"/lab/lots/{lot.lot_id}").get_data(as_text=True)
    assert "Certify the lot" not in page
    assert re.search(rf'data-testid="lot-certify-refusal">[^<]*{second} not yet verified', page), page
    token = csrf_token(client, f"/lab/lots/{lot.lot_id}")
    early = client.post(f"/review/lots/{lot.lot_id}/certify", data={"csrf_token": token})
    assert early.status_code == 409 and second in early.get_data(as_text=True)
    seed.verify_all(seeded, second, "reviewer")
    page = client.get(f"/lab/lots/{lot.lot_id}").get_data(as_text=True)
    assert "Certify the lot" in page and "lot-certify-refusal" not in page
    done = client.post(f"/review/lots/{lot.lot_id}/certify", data={"csrf_token": token})
    assert done.status_code == 302
    with seeded() as s:
        cert = s.scalar(select(Certificate))
        assert cert.kind == "lot" and {x.code for x in cert.samples} == {first, second}
    no_reason = client.post(f"/review/samples/{first}/invalidate", data={"reason": " ", "csrf_token": token})
    assert no_reason.status_code == 422 and "say why" in no_reason.get_data(as_text=True)


def test_the_lot_page_offers_no_lot_certificate_beside_a_samples_own(client, seeded):
    """A sample certified on its own certificate keeps the lot from a lot certificate (which
    would leave it out): the page offered "Certify the lot" once the other sample was verified,
    and the click was refused."""
    lot = seed.lot_with_samples(seeded, 2)
    first, second = lot.sample_codes
    for code in lot.sample_codes:
        seed.submit_all(seeded, code, "tech")
        seed.verify_all(seeded, code, "reviewer")
    log_in(client, "reviewer")
    token = csrf_token(client, f"/lab/lots/{lot.lot_id}")
    assert client.post(f"/review/samples/{first}/certify", data={"csrf_token": token}).status_code == 302
    page = html.unescape(client.get(f"/lab/lots/{lot.lot_id}").get_data(as_text=True))
    assert "Certify the lot" not in page
    assert re.search(rf'data-testid="lot-certify-refusal">[^<]*{first} already on valid certificate', page), page
    # A technician, who may not certify, is told nothing about it.
    client.post("/logout", data={"csrf_token": token})
    log_in(client, "tech")
    page = client.get(f"/lab/lots/{lot.lot_id}").get_data(as_text=True)
    assert "Certify the lot" not in page and "lot-certify-refusal" not in page


def test_a_failing_prediction_never_costs_the_registration(client, seeded, monkeypatch):
    from analytics import predict
    from lims.kernel.models import Lot
    from lims.kernel.models.analytics import ModelVersion, Prediction

    def broken_model(session, store, registry, lot, *args, **kwargs):
        mv = version_without_artifact("grade-broken", ["A"])
        session.add(mv)
        session.flush()
        session.add(Prediction(lot_id=lot.id, model_version_id=mv.id, predicted_grade="A", probabilities={}, top_features=[]))
        session.flush()
        raise RuntimeError("model exploded half-way")

    monkeypatch.setattr(predict, "predict_lot", broken_model)
    log_in(client, "tech")
    form = {
        "csrf_token": csrf_token(client, "/lab/lots/new"), "code": "LOT-PRED-1", "installation": "ntk-ext1",
        "material": "pp", "owner": "polyvorm", "production_start": "2026-11-29T08:00",
        "production_end": "2026-11-29T16:00", "input_stream": "post-consumer", "recycled_content_pct": "85",
        "sample_count": "3", "storage_location": "",
    }
    response = client.post("/lab/lots/new", data=form)
    assert response.status_code == 302
    with seeded() as s:
        lot = s.scalar(select(Lot).where(Lot.code == "LOT-PRED-1"))
        assert s.scalar(select(func.count()).select_from(Sample).where(Sample.lot_id == lot.id)) == 3
        assert s.scalar(select(func.count()).select_from(Prediction)) == 0
        assert s.scalar(select(func.count()).select_from(ModelVersion)) == 0
    assert "no model prediction available" in client.get(response.headers["Location"]).get_data(as_text=True)
    bad = client.post("/lab/lots/new", data=form | {"code": "LOT-PRED-2", "recycled_content_pct": "NaN", "production_end": "2026-11-29T07:00"})
    assert bad.status_code == 422
    page = bad.get_data(as_text=True)
    assert "give a percentage" in page
    with seeded() as s:
        assert s.scalar(select(Lot.id).where(Lot.code == "LOT-PRED-2")) is None


def test_a_lot_chart_over_the_night_the_clocks_go_back_tells_the_two_02_30s_apart(app, client, seeded):
    """A lot made from 02:00 summer time to 02:30 winter time (Amsterdam, 26 October 2025):
    the chart's time axis read 02:00, 02:08 ... 02:30, 02:38 (the first 02:30 an hour before the
    second), so a reading could not be placed. Over a change of offset the ticks carry it."""
    from decimal import Decimal

    from lims.samples import registration as samples

    start = datetime(2025, 10, 26, 0, 0, tzinfo=UTC)  # 02:00 CEST
    end = datetime(2025, 10, 26, 1, 30, tzinfo=UTC)  # 02:30 CET
    store = open_store(app.config["RECYCLAB"])
    store.write([Point("ntk-ext1", "melt_temp_c", start + timedelta(minutes=m), 230.0 + m % 7) for m in range(91)])
    store.close()
    with seeded.begin() as s:
        tech = s.scalar(select(User).where(User.username == "tech"))
        lot = samples.create_lot(
            s, tech, code="L-DST-2025", installation="ntk-ext1", material="pp", owner="polyvorm",
            production_start=start, production_end=end, input_stream="post-consumer",
            recycled_content_pct=Decimal("90"),
        )
        lot_id = lot.id
    log_in(client, "engineer")
    html = client.get(f"/process/lots/{lot_id}").get_data(as_text=True)
    assert "+02:00" in html and "+01:00" in html, html[html.find("<svg"):html.find("</svg>")]
    # A day without a change keeps the short labels.
    plain = client.get("/process/installations/ntk-ext1?range=custom&start=2026-01-01T00:00&end=2026-01-01T06:00")
    assert "+01:00" not in plain.get_data(as_text=True)


@contextlib.contextmanager
def store_unreachable(app):
    """The process data store down: the app reads from a port nothing listens on."""
    from ingest.store.influx_store import InfluxStore
    from tests.support.influx import free_port

    nowhere = InfluxStore(f"http://127.0.0.1:{free_port()}", "", "recyclab", "none", timeout_s=1)
    working = app.extensions.get("recyclab.store")
    app.extensions["recyclab.store"] = nowhere
    try:
        yield
    finally:
        if working is None:
            app.extensions.pop("recyclab.store")
        else:
            app.extensions["recyclab.store"] = working
        nowhere.close()


def test_a_chart_csv_the_store_cannot_give_is_a_page_saying_so_in_the_users_language(app, client, seeded):
    """With the process data store down, the CSV link answered Werkzeug's bare English
    "Service Unavailable" page, outside the app's pages and untranslated."""
    log_in(client, "engineer")
    with store_unreachable(app):
        answer = client.get("/process/installations/ntk-ext1/charts/melt_temp_c/csv?range=1h")
        dutch = client.get("/process/installations/ntk-ext1/charts/melt_temp_c/csv?range=1h",
                           headers={"Accept-Language": "nl"})
    assert answer.status_code == 503 and answer.mimetype == "text/html"
    page = answer.get_data(as_text=True)
    assert "not available right now" in page and "Log out" in page, page
    assert dutch.status_code == 503 and "niet beschikbaar" in dutch.get_data(as_text=True)
