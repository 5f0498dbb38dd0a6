"""Item 4: repeated failed logins block the account and the client address for a growing time;
the user is told how long; the block is in the audit trail; the counters live in the database
(so every web process sees them)."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from lims import throttle
from lims.kernel.clock import frozen_at, utcnow
from lims.kernel.models import AuditEvent, Throttle
from tests.support.api_client import API

GOOD = {"username": "tech", "password": "demo-tech"}
BAD = {"username": "tech", "password": "wrong-password"}


def _api_login(client, creds, address="10.0.0.1"):
    return client.post(f"{API}/auth/login", json=creds, environ_base={"REMOTE_ADDR": address})


def test_ninety_wrong_passwords_then_the_right_one_is_refused(client, seeded, session_factory):
    start = utcnow()
    with frozen_at(start):
        statuses = [_api_login(client, BAD).status_code for _ in range(90)]
        assert statuses[: throttle.FREE_FAILURES + 1] == [401] * (throttle.FREE_FAILURES + 1)
        assert set(statuses[throttle.FREE_FAILURES + 1:]) == {429}
        refused = _api_login(client, GOOD)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert "try again in" in refused.get_json()["message"]
    # Each failure after the block runs out doubles the wait.
    waits = []
    moment = start
    for _ in range(3):
        moment += timedelta(minutes=20)
        with frozen_at(moment):
            assert _api_login(client, BAD).status_code == 401
            waits.append(int(_api_login(client, GOOD).headers["Retry-After"]))
    assert waits[0] < waits[1] < waits[2]
    with frozen_at(moment + timedelta(minutes=20)):
        assert _api_login(client, GOOD).status_code == 200
    with session_factory() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "login.throttled")).all()
        assert {e.entity_type for e in events} == {"login-user", "login-addr"}
        assert any(e.entity_id == "tech" and e.after["address"] == "10.0.0.1" for e in events)


def test_an_address_guessing_many_accounts_is_blocked(client, seeded):
    for i in range(throttle.FREE_FAILURES + 1):
        assert _api_login(client, {"username": f"user{i}", "password": "x"}, "10.0.0.2").status_code == 401
    assert _api_login(client, GOOD, "10.0.0.2").status_code == 429
    # Another address is not blocked, nor is the account.
    assert _api_login(client, GOOD, "10.0.0.3").status_code == 200


def test_the_login_page_tells_the_user_how_long_to_wait(client, seeded):
    csrf = re.compile(r'name="csrf_token" value="([^"]+)"')
    for _ in range(throttle.FREE_FAILURES + 2):
        token = csrf.search(client.get("/login").get_data(as_text=True)).group(1)
        page = client.post("/login", data={**BAD, "csrf_token": token})
    assert page.status_code == 429
    assert re.search(r"Wait \d+ seconds", page.get_data(as_text=True))


def test_counters_are_shared_through_the_database(app, seeded, session_factory):
    """Two app instances (as two web processes would be) count the same failures."""
    from lims.app import create_app

    settings = app.config["RECYCLAB"]
    other = create_app(settings)
    clients = [app.test_client(), other.test_client()]
    for i in range(throttle.FREE_FAILURES + 1):
        assert _api_login(clients[i % 2], BAD, "10.0.0.4").status_code == 401
    assert _api_login(clients[0], GOOD, "10.0.0.4").status_code == 429
    assert _api_login(clients[1], GOOD, "10.0.0.4").status_code == 429
    with session_factory() as s:
        row = s.get(Throttle, "login-user:tech")
        assert row.count == throttle.FREE_FAILURES + 1
    other.extensions["recyclab.engine"].dispose()
