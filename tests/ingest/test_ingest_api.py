"""Story: a process engineer lists and counts rejected data, sees active and past alarms and
the ingester's health over the API."""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime, timedelta

import pytest

from ingest.heartbeat import Heartbeat
from ingest.status import IngestStatus
from lims.kernel.clock import frozen_at, utcnow
from lims.kernel.models import Organization
from lims.kernel.models.process import AlarmEvent, IngesterHeartbeat, IngestReject
from lims.people import accounts as auth
from lims.process.ingesters import database_now

pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _token_for(session_factory, role: str, org_kind: str) -> str:
    with session_factory.begin() as s:
        org = Organization(key=f"org-{role}", name=f"{role} org", kind=org_kind)
        s.add(org)
        s.flush()
        user = auth.create_user(s, None, username=role, password="pw-not-used", role=role,
                                organization=org)
        return auth.create_token(s, user, user, "test")[1]


@pytest.fixture
def client(app, session_factory):
    """An engineer's API client (bearer token)."""
    client = app.test_client()
    token = _token_for(session_factory, "engineer", "lab")
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def test_process_data_is_for_the_lab_not_for_customers_or_anonymous(app, session_factory):
    anonymous = app.test_client()
    customer = app.test_client()
    token = _token_for(session_factory, "customer", "customer")
    customer.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    for path in ("/api/v1/ingest/rejects", "/api/v1/ingest/status", "/api/v1/alarms", "/metrics"):
        assert anonymous.get(path).status_code == 401, path
        assert customer.get(path).status_code == 403, path


@pytest.fixture
def recorded(session_factory):
    with session_factory.begin() as s:
        for i in range(7):
            s.add(IngestReject(received_at=T0 + timedelta(minutes=i), topic="recyclab/v1/a/main",
                               installation="a", sensor="temp_c", reason="out_of_range",
                               detail="999.0 outside [0, 400]", excerpt="temp_c=999.0"))
        s.add(IngestReject(received_at=T0, topic="recyclab/v1/b/main", installation="b",
                           sensor=None, reason="malformed", detail="not JSON", excerpt="{x"))
        s.add(AlarmEvent(installation="a", sensor="temp_c", kind="high", limit=250.0,
                         started_at=T0, peak_value=270.0, ended_at=T0 + timedelta(minutes=5)))
        s.add(AlarmEvent(installation="a", sensor="temp_c", kind="low", limit=100.0,
                         started_at=T0 + timedelta(hours=1), peak_value=80.0, ended_at=None))
        s.add(AlarmEvent(installation="b", sensor="rpm", kind="high", limit=450.0,
                         started_at=T0 + timedelta(hours=2), peak_value=460.0, ended_at=None))


def test_rejects_are_listed_newest_first_with_filters_and_pages(client, recorded):
    resp = client.get("/api/v1/ingest/rejects?installation=a&page_size=3")
    assert resp.status_code == 200
    body = resp.get_json()
    assert len(body) == 3
    assert json.loads(resp.headers["X-Pagination"])["total"] == 7
    assert body[0]["received_at"].startswith("2026-03-01T08:06")
    assert body[0]["reason"] == "out_of_range"
    assert body[0]["reason_text"] == "value outside the sensor's physical range"
    assert body[0]["excerpt"] == "temp_c=999.0"
    resp = client.get("/api/v1/ingest/rejects?reason=malformed")
    assert [r["installation"] for r in resp.get_json()] == ["b"]
    resp = client.get("/api/v1/ingest/rejects?since=2026-03-01T09:03:00%2B01:00")
    assert len(resp.get_json()) == 4


def test_reject_summary_counts_per_installation_and_reason(client, recorded):
    body = client.get("/api/v1/ingest/rejects/summary").get_json()
    assert body["total"] == 8
    assert [(c["installation"], c["reason"], c["count"]) for c in body["counts"]] == [
        ("a", "out_of_range", 7),
        ("b", "malformed", 1),
    ]
    assert client.get("/api/v1/ingest/rejects/summary?installation=b").get_json()["total"] == 1


def test_bad_filters_are_422_naming_the_field(client):
    resp = client.get("/api/v1/ingest/rejects?reason=bogus")
    assert resp.status_code == 422
    assert "reason" in resp.get_json()["errors"]["query"]
    resp = client.get("/api/v1/alarms?state=sometimes")
    assert resp.status_code == 422 and "state" in resp.get_json()["errors"]["query"]
    resp = client.get("/api/v1/ingest/rejects?since=yesterday")
    assert resp.status_code == 422 and "since" in resp.get_json()["errors"]["query"]


def test_alarms_active_and_past(client, recorded):
    everything = client.get("/api/v1/alarms").get_json()
    assert [(a["sensor"], a["kind"], a["active"]) for a in everything] == [
        ("rpm", "high", True), ("temp_c", "low", True), ("temp_c", "high", False)
    ]
    active = client.get("/api/v1/alarms?state=active&installation=a").get_json()
    assert [(a["kind"], a["peak_value"], a["ended_at"]) for a in active] == [("low", 80.0, None)]
    past = client.get("/api/v1/alarms?state=past").get_json()
    assert [(a["kind"], a["limit"]) for a in past] == [("high", 250.0)]
    assert past[0]["ended_at"].startswith("2026-03-01T08:05")


def test_status_and_metrics_show_every_ingester_from_the_database(app, client, session_factory):
    """Two ingesters on other hosts (nothing in this web process's var dir): both are listed."""
    assert client.get("/api/v1/ingest/status").get_json() == {
        "available": False, "fresh": False, "age_s": None, "status": None, "ingesters": []
    }
    assert b"no ingester has reported" in client.get("/metrics").data
    a, b = IngestStatus(), IngestStatus()
    a.messages, a.values_stored, a.broker_connected = 10, 200, True
    a.add_rejects({"out_of_range": 3})
    b.messages, b.values_stored = 5, 50
    Heartbeat(b, session_factory, "ingest-b").beat("running")
    _last_beat_ago(session_factory, "ingest-b", timedelta(minutes=5))
    Heartbeat(a, session_factory, "ingest-a").beat("running")
    Heartbeat(IngestStatus(), session_factory, "ingest-c").beat("stopped")

    body = client.get("/api/v1/ingest/status").get_json()
    assert body["available"] and body["fresh"]
    assert [(i["ingester"], i["state"]) for i in body["ingesters"]] == [
        ("ingest-a", "running"), ("ingest-b", "silent"), ("ingest-c", "stopped")
    ]
    assert body["ingesters"][0]["counters"]["messages_total"] == 10
    assert body["ingesters"][0]["counters"]["rejects_by_reason"] == {"out_of_range": 3}
    assert body["ingesters"][0]["pid"] == os.getpid() and body["ingesters"][1]["age_s"] >= 300
    text = client.get("/metrics").get_data(as_text=True)
    host = socket.gethostname()
    assert f'recyclab_ingest_up{{ingester="ingest-a",host="{host}"}} 1.0' in text
    assert f'recyclab_ingest_up{{ingester="ingest-b",host="{host}"}} 0.0' in text
    assert f'recyclab_ingest_values_stored_total{{ingester="ingest-a",host="{host}"}} 200.0' in text
    assert f'recyclab_ingest_rejects_total{{ingester="ingest-a",host="{host}",reason="out_of_range"}} 3.0' in text
    assert text.count("# TYPE recyclab_ingest_up gauge") == 1


def test_an_ingester_tells_its_start_and_updates_by_the_projects_clock(session_factory):
    """The status file and the heartbeat take "now" from the one clock, the start too: an
    ingester started at a set time never seems to have started after its own heartbeat."""
    moment = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    with frozen_at(moment):
        status = IngestStatus()
        snap = status.snapshot()
        Heartbeat(status, session_factory, "ingest-t").beat("running")
    assert snap["started_at"] == snap["updated_at"] == moment.isoformat()
    with session_factory() as s:
        row = s.get(IngesterHeartbeat, "ingest-t")
        assert row.started_at == row.heartbeat_at == moment


def _last_beat_ago(session_factory, ingester: str, ago: timedelta) -> None:
    """The ingester's last beat reached the database `ago` before now, by the database's clock."""
    with session_factory.begin() as s:
        row = s.get(IngesterHeartbeat, ingester)
        row.db_beat_at = database_now(s) - ago


def test_an_ingester_on_a_host_whose_clock_is_off_is_judged_by_its_beats(client, session_factory):
    """Silence compared the ingester host's clock (its heartbeat time) with the web host's: a
    running ingester on a host 30 s behind was shown silent, a dead one on a host 5 minutes
    ahead as running for those 5 minutes. The database's own clock times each beat."""
    with frozen_at(utcnow() - timedelta(seconds=30)):
        Heartbeat(IngestStatus(), session_factory, "ingest-behind").beat("running")
    with frozen_at(utcnow() + timedelta(minutes=5)):
        Heartbeat(IngestStatus(), session_factory, "ingest-ahead").beat("running")
    _last_beat_ago(session_factory, "ingest-ahead", timedelta(minutes=1))  # and none since

    states = {i["ingester"]: i for i in client.get("/api/v1/ingest/status").get_json()["ingesters"]}
    assert (states["ingest-behind"]["state"], states["ingest-ahead"]["state"]) == ("running", "silent")
    assert states["ingest-behind"]["age_s"] < 10 and 60 <= states["ingest-ahead"]["age_s"] < 70


def test_metrics_do_not_report_a_silent_ingester_as_connected(client, session_factory):
    """/metrics went on exporting a killed ingester's last heartbeat as its present:
    broker_connected 1, store_available 1, a frozen lag and rate, so a Grafana panel or an
    alert on them saw nothing wrong; only recyclab_ingest_up said 0. What the ingester no longer
    knows is left out (Prometheus marks it stale); its totals and its spool on disk stay."""
    live, killed = IngestStatus(), IngestStatus()
    for status in (live, killed):
        status.broker_connected, status.values_stored = True, 100
    Heartbeat(killed, session_factory, "ingest-killed").beat("running")
    _last_beat_ago(session_factory, "ingest-killed", timedelta(minutes=5))
    Heartbeat(live, session_factory, "ingest-live").beat("running")

    text = client.get("/metrics").get_data(as_text=True)
    host = socket.gethostname()
    live_labels = f'{{ingester="ingest-live",host="{host}"}}'
    killed_labels = f'{{ingester="ingest-killed",host="{host}"}}'
    assert f"recyclab_ingest_up{killed_labels} 0.0" in text
    for name in ("broker_connected", "store_available", "lims_available", "messages_per_second",
                 "values_per_second", "lag_seconds", "queue_depth", "reading_paused"):
        assert f"recyclab_ingest_{name}{live_labels}" in text, name
        assert f"recyclab_ingest_{name}{killed_labels}" not in text, name
    for name in ("values_stored_total", "heartbeat_age_seconds", "spool_values"):
        assert f"recyclab_ingest_{name}{killed_labels}" in text, name
