"""Answering process alarms: acknowledge with a comment, shelve for a while, filter the history;
the rules (lims.process.alarms), the API and the alarms page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from lims.audit.service import verify_chain
from lims.kernel.clock import utcnow
from lims.kernel.errors import Forbidden, InputError, NotFound, WorkflowError
from lims.kernel.models import AuditEvent
from lims.kernel.models.process import AlarmEvent
from lims.people import accounts as auth
from lims.process import alarms
from tests.web import seed
from tests.web.test_pages import csrf_token, log_in

pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)


@pytest.fixture
def events(session_factory):
    """Seeded users, and three alarms: ext1 melt temperature ongoing, ext1 screw speed ended,
    ext2 dew point ongoing."""
    seed.seed_reference(session_factory)
    now = utcnow()
    with session_factory.begin() as s:
        rows = [
            AlarmEvent(installation="ntk-ext1", sensor="melt_temp_c", kind="high", limit=270.0,
                       started_at=now - timedelta(minutes=10), peak_value=281.5),
            AlarmEvent(installation="ntk-ext1", sensor="screw_speed_rpm", kind="high", limit=450.0,
                       started_at=now - timedelta(days=2), peak_value=470.0,
                       ended_at=now - timedelta(days=2) + timedelta(minutes=3)),
            AlarmEvent(installation="ntk-ext2", sensor="dryer_dewpoint_c", kind="high", limit=-30.0,
                       started_at=now - timedelta(hours=1), peak_value=-25.0),
        ]
        s.add_all(rows)
        s.flush()
        return {r.sensor: r.id for r in rows}


def _api(app, session_factory, username: str):
    client = app.test_client()
    with session_factory.begin() as s:
        user = seed.user(s, username)
        token = auth.create_token(s, user, user, "test")[1]
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def test_acknowledge_needs_a_comment_and_happens_once_with_an_audit_event(session_factory, events):
    alarm_id = events["melt_temp_c"]
    with session_factory.begin() as s:
        engineer = seed.user(s, "engineer")
        for bad in ("", "   ", None, "x" * 501):
            with pytest.raises(InputError) as err:
                alarms.acknowledge(s, engineer, alarm_id, bad)
            assert "comment" in err.value.errors
        with pytest.raises(NotFound):
            alarms.acknowledge(s, engineer, 999_999, "seen")
        alarm = alarms.acknowledge(s, engineer, alarm_id, "  screen changed, temperature falling ")
        assert alarm.acknowledged_by == "engineer" and alarm.ack_comment == "screen changed, temperature falling"
    with session_factory.begin() as s:
        with pytest.raises(WorkflowError, match="acknowledged already by engineer"):
            alarms.acknowledge(s, seed.user(s, "tech"), alarm_id, "me too")
        # An ended alarm can still be acknowledged (it may have cleared before anyone looked).
        alarms.acknowledge(s, seed.user(s, "tech"), events["screw_speed_rpm"], "feed blocked, cleared")
    with session_factory() as s:
        trail = s.scalars(select(AuditEvent).where(AuditEvent.action == "alarm.acknowledge")
                          .order_by(AuditEvent.seq)).all()
        assert [(e.actor, e.entity_id) for e in trail] == [
            ("engineer", str(alarm_id)), ("tech", str(events["screw_speed_rpm"]))]
        assert trail[0].before["acknowledged_at"] is None
        assert trail[0].after["ack_comment"] == "screen changed, temperature falling"
        assert verify_chain(s).ok


def test_customers_may_not_answer_alarms(session_factory, events):
    with session_factory.begin() as s:
        with pytest.raises(Forbidden):
            alarms.acknowledge(s, seed.user(s, "polyvorm"), events["melt_temp_c"], "not mine")


def test_a_shelved_alarm_is_not_active_until_its_shelf_time_ends(session_factory, events, monkeypatch):
    alarm_id = events["melt_temp_c"]
    with session_factory.begin() as s:
        tech = seed.user(s, "tech")
        for minutes, field in ((0, "minutes"), (1441, "minutes"), ("soon", "minutes"), (60, None)):
            with pytest.raises(InputError) as err:
                alarms.shelve(s, tech, alarm_id, minutes, "" if field is None else "ok")
            assert set(err.value.errors) == {field or "comment"}
        with pytest.raises(InputError) as both:
            alarms.shelve(s, tech, alarm_id, -5, " ")
        assert set(both.value.errors) == {"minutes", "comment"}
        with pytest.raises(WorkflowError, match="ended"):
            alarms.shelve(s, tech, events["screw_speed_rpm"], 60, "ended already")
        shelved = alarms.shelve(s, tech, alarm_id, 60, "sensor being replaced")
        until = shelved.shelved_until
        assert timedelta(minutes=59) < until - utcnow() <= timedelta(minutes=60)
    with session_factory() as s:
        assert [a.id for a in alarms.active(s)] == [events["dryer_dewpoint_c"]]
        assert [a.id for a in s.scalars(alarms.query(alarms.AlarmFilter(state="shelved")))] == [alarm_id]
        audit = s.scalar(select(AuditEvent).where(AuditEvent.action == "alarm.shelve"))
        assert audit.actor == "tech" and audit.after["shelve_comment"] == "sensor being replaced"
        # An hour later the shelf is over: the alarm is active again.
        later = utcnow() + timedelta(minutes=61)
        monkeypatch.setattr(alarms, "utcnow", lambda: later)
        assert {a.id for a in alarms.active(s)} == {alarm_id, events["dryer_dewpoint_c"]}


def test_api_history_filter_acknowledge_and_shelve(app, session_factory, events):
    client = _api(app, session_factory, "engineer")
    ids = lambda r: sorted(a["id"] for a in r.get_json())  # noqa: E731
    assert ids(client.get("/api/v1/alarms?installation=ntk-ext1")) == sorted(
        [events["melt_temp_c"], events["screw_speed_rpm"]])
    assert ids(client.get("/api/v1/alarms?sensor=dryer_dewpoint_c")) == [events["dryer_dewpoint_c"]]
    since = (utcnow() - timedelta(hours=3)).isoformat()
    assert ids(client.get("/api/v1/alarms", query_string={"since": since})) == sorted(
        [events["melt_temp_c"], events["dryer_dewpoint_c"]])
    assert client.get("/api/v1/alarms?state=shelved").get_json() == []

    refused = client.post(f"/api/v1/alarms/{events['melt_temp_c']}/acknowledge", json={"comment": " "})
    assert refused.status_code == 422 and "comment" in refused.get_json()["errors"]["json"]
    missing = client.post(f"/api/v1/alarms/{events['melt_temp_c']}/shelve", json={"comment": "x"})
    assert missing.status_code == 422 and "minutes" in missing.get_json()["errors"]["json"]
    too_long = client.post(f"/api/v1/alarms/{events['melt_temp_c']}/shelve", json={"minutes": 2000, "comment": "x"})
    assert too_long.status_code == 422 and "minutes" in too_long.get_json()["errors"]["json"]
    assert client.post("/api/v1/alarms/999999/acknowledge", json={"comment": "x"}).status_code == 404

    acked = client.post(f"/api/v1/alarms/{events['melt_temp_c']}/acknowledge", json={"comment": "seen"})
    assert acked.status_code == 200
    body = acked.get_json()
    assert body["acknowledged_by"] == "engineer" and body["ack_comment"] == "seen" and body["active"]
    assert client.post(f"/api/v1/alarms/{events['melt_temp_c']}/acknowledge",
                       json={"comment": "again"}).status_code == 409
    shelved = client.post(f"/api/v1/alarms/{events['melt_temp_c']}/shelve", json={"minutes": 30, "comment": "repair"})
    assert shelved.status_code == 200 and shelved.get_json()["shelved"] and not shelved.get_json()["active"]
    assert ids(client.get("/api/v1/alarms?state=active")) == [events["dryer_dewpoint_c"]]
    assert ids(client.get("/api/v1/alarms?state=shelved")) == [events["melt_temp_c"]]
    assert ids(client.get("/api/v1/alarms?state=unacknowledged")) == sorted(
        [events["screw_speed_rpm"], events["dryer_dewpoint_c"]])
    assert client.get("/api/v1/alarms?state=sometimes").status_code == 422

    customer = _api(app, session_factory, "polyvorm")
    assert customer.post(f"/api/v1/alarms/{events['dryer_dewpoint_c']}/acknowledge",
                         json={"comment": "x"}).status_code == 403


def test_alarms_page_answers_keep_the_filter_and_show_errors_at_the_row(client, events):
    log_in(client, "engineer")
    page = client.get("/process/alarms?installation=ntk-ext1").get_data(as_text=True)
    token = csrf_token(client, "/process/alarms")
    history = page.split('id="alarm-history"')[1]
    assert "melt_temp_c" in history and "screw_speed_rpm" in history and "dryer_dewpoint_c" not in history
    url = f"/process/alarms/{events['melt_temp_c']}/shelve?installation=ntk-ext1"
    refused = client.post(url, data={"csrf_token": token, "minutes": "60", "comment": ""})
    assert refused.status_code == 422
    assert re.search(r'role="alert">comment: give a comment', refused.get_data(as_text=True))
    done = client.post(url, data={"csrf_token": token, "minutes": "60", "comment": "sensor swap"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/process/alarms?installation=ntk-ext1")
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "shelved until" in page and "sensor swap" in page
    assert "No active alarms." in page  # ext1's only ongoing alarm is shelved
    bad_range = client.get("/process/alarms?since=yesterday")
    assert bad_range.status_code == 422 and "since: give a date and time" in bad_range.get_data(as_text=True)


def test_an_alarm_that_ended_before_anyone_looked_is_acknowledged_from_the_history(client, events):
    """Most alarms clear within minutes; the history's "not acknowledged" filter finds them and
    each such row offers its Acknowledge (the ongoing ones are answered in the tables above)."""
    log_in(client, "engineer")
    ended, ongoing = events["screw_speed_rpm"], events["melt_temp_c"]
    page = client.get("/process/alarms?state=unacknowledged").get_data(as_text=True)
    history = page.split('id="alarm-history"')[1]
    assert f"/process/alarms/{ended}/acknowledge?state=unacknowledged" in history
    assert f"/process/alarms/{ongoing}/acknowledge" not in history
    assert f"/process/alarms/{ended}/shelve" not in page  # an ended alarm cannot be shelved
    token = csrf_token(client, "/process/alarms")
    url = f"/process/alarms/{ended}/acknowledge?state=unacknowledged"
    refused = client.post(url, data={"csrf_token": token, "comment": " "})
    assert refused.status_code == 422
    row = refused.get_data(as_text=True).split('id="alarm-history"')[1]
    assert 'role="alert">comment: give a comment' in row
    done = client.post(url, data={"csrf_token": token, "comment": "feed blocked, cleared"})
    assert done.status_code == 302
    history = client.get(done.headers["Location"]).get_data(as_text=True).split('id="alarm-history"')[1]
    assert f"/process/alarms/{ended}/acknowledge" not in history


def test_alarm_pages_name_installation_sensor_and_kind_in_the_readers_language(client, events):
    log_in(client, "engineer")
    page = client.get("/process/alarms").get_data(as_text=True)
    active = page.split('id="active-alarms"')[1].split("</table>")[0]
    assert "Regranulation line 1" in active and "Melt temperature" in active and ">melt_temp_c<" not in active
    history = page.split('id="alarm-history"')[1]
    assert "Screw speed" in history and ">screw_speed_rpm<" not in history
    assert '<option value="melt_temp_c"' in page and ">melt_temp_c</option>" not in page
    assert "Melt temperature" in client.get("/process/alarms/active").get_data(as_text=True)
    recent = client.get("/process/installations/ntk-ext1").get_data(as_text=True).split("Recent alarms")[1]
    assert "Screw speed" in recent and ">screw_speed_rpm<" not in recent
    token = csrf_token(client, "/process/alarms")
    done = client.post(f"/process/alarms/{events['melt_temp_c']}/acknowledge",
                       data={"csrf_token": token, "comment": "seen"}, follow_redirects=True)
    assert "Alarm Melt temperature – Regranulation line 1" in done.get_data(as_text=True)

    client.post("/lang", data={"lang": "nl", "next": "/process/alarms", "csrf_token": token})
    dutch = client.get("/process/alarms").get_data(as_text=True)
    active = dutch.split('id="active-alarms"')[1].split("</table>")[0]
    assert "Smelttemperatuur" in active and "Regranuleerlijn 1" in active
    assert ">hoog</span>" in active and ">high</span>" not in dutch


def test_alarm_times_read_like_every_other_time_with_their_seconds(client, events):
    """The alarm pages said "3 Dec 2026, 13:05:46" beside "03/12/2026, 13:05" everywhere else."""
    log_in(client, "engineer")
    page = client.get("/process/alarms").get_data(as_text=True)
    shown = re.findall(r'<time datetime="[^"]+">([^<]+)</time>', page)
    assert shown and all(re.fullmatch(r"\d{2}/\d{2}/\d{4}, \d{2}:\d{2}:\d{2}", t) for t in shown), shown


def test_installation_page_shows_a_shelved_alarm_as_shelved_until_the_shelf_time_ends(client, session_factory, events):
    """The alarms page and the dashboard leave a shelved alarm out of the active ones; the
    installation's recent alarms called it active all the same."""
    with session_factory.begin() as s:
        alarms.shelve(s, seed.user(s, "engineer"), events["melt_temp_c"], 60, "sensor being replaced")
    log_in(client, "engineer")

    def melt_row() -> str:
        recent = client.get("/process/installations/ntk-ext1").get_data(as_text=True).split("Recent alarms")[1]
        return next(row for row in recent.split("<tr>") if "Melt temperature" in row)

    assert "shelved" in melt_row() and "active" not in melt_row()
    with session_factory.begin() as s:
        s.get(AlarmEvent, events["melt_temp_c"]).shelved_until = utcnow() - timedelta(seconds=1)
    assert "active" in melt_row() and "shelved" not in melt_row()


def test_api_history_filter_names_a_refused_range_where_it_was_given(app, session_factory, events):
    """Schema errors of a GET are under "query"; the service's were said to be in a JSON body
    that a GET has not."""
    answer = _api(app, session_factory, "engineer").get(
        "/api/v1/alarms", query_string={"since": "2026-01-02T00:00Z", "until": "2026-01-01T00:00Z"})
    assert answer.status_code == 422
    assert answer.get_json()["errors"] == {"query": {"until": ["the end must be after the start"]}}
