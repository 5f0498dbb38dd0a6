"""A lab computer is shared: a login left alone ends after the idle timeout (its last activity
is in the signed cookie, so every web process agrees), with a message on the login page; the
absolute lifetime still holds for a session in use; API tokens are not sessions and keep working."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest

from lims.app import create_app
from lims.kernel.clock import frozen_at, utcnow
from lims.web.auth import BACKGROUND_HEADER
from tests.lims.conftest import ok
from tests.support.api_client import API

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _page_login(client) -> None:
    token = CSRF.search(client.get("/login").get_data(as_text=True)).group(1)
    response = client.post("/login", data={"username": "tech", "password": "demo-tech", "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)


def _idle(app) -> timedelta:
    return timedelta(minutes=app.config["RECYCLAB"].session_idle_minutes)


def test_the_default_is_an_hour_and_the_environment_sets_it(monkeypatch):
    from lims.kernel.settings import load_settings

    assert load_settings().session_idle_minutes == 60
    monkeypatch.setenv("RECYCLAB_SESSION_IDLE_MINUTES", "15")
    assert load_settings().session_idle_minutes == 15


def test_a_session_left_alone_ends_and_the_login_page_says_why(app, lab):
    start = utcnow()
    idle = _idle(app)
    with frozen_at(start):
        _page_login(lab.client)
    # Activity keeps it going, past the idle time counted from the login.
    for step in (1, 2, 3):
        with frozen_at(start + step * (idle - timedelta(minutes=2))):
            assert lab.client.get("/lab/samples").status_code == 200
    with frozen_at(start + 3 * (idle - timedelta(minutes=2)) + idle + timedelta(minutes=1)):
        gone = lab.client.get("/lab/samples")
        assert gone.status_code == 302
        assert gone.headers["Location"].startswith("/login?next=/lab/samples")
        login_page = lab.client.get(gone.headers["Location"]).get_data(as_text=True)
        assert f"after {idle.seconds // 60} minutes without activity" in login_page
        # Ended, not paused: the next request is no better.
        assert lab.client.get("/lab/samples").status_code == 302


def test_the_message_is_dutch_for_a_dutch_user(app, lab):
    start = utcnow()
    with frozen_at(start):
        _page_login(lab.client)
        lab.client.post("/lang", data={"lang": "nl", "csrf_token": CSRF.search(
            lab.client.get("/lab/samples").get_data(as_text=True)).group(1)})
    with frozen_at(start + _idle(app) + timedelta(minutes=1)):
        page = lab.client.get("/lab/samples", follow_redirects=True).get_data(as_text=True)
        assert "minuten zonder activiteit" in page


def test_another_web_process_ends_the_idle_session_too(app, lab):
    """The cookie carries the last activity: a second app (another process) judges it alike."""
    other = create_app(app.config["RECYCLAB"])
    start = utcnow()
    with frozen_at(start):
        _page_login(lab.client)
    browser = other.test_client()
    browser.set_cookie("session", lab.client.get_cookie("session").value)
    with frozen_at(start + _idle(app) - timedelta(minutes=5)):
        assert browser.get("/lab/samples").status_code == 200
    with frozen_at(start + _idle(app) + timedelta(minutes=1)):
        # Only the other process saw the activity: its cookie is the one still alive.
        assert lab.client.get(f"{API}/auth/me").status_code == 401
        assert browser.get(f"{API}/auth/me").status_code == 200
    other.extensions["recyclab.engine"].dispose()


def test_the_api_on_an_idle_session_answers_401_saying_why(app, lab):
    start = utcnow()
    with frozen_at(start):
        ok(lab.client.post(f"{API}/auth/login", json={"username": "tech", "password": "demo-tech"}))
    with frozen_at(start + _idle(app) + timedelta(minutes=1)):
        answer = lab.client.get(f"{API}/auth/me")
        assert answer.status_code == 401
        assert "without activity" in answer.get_json()["message"]


def test_background_requests_of_an_open_page_keep_no_session_alive(app, lab):
    """The live dashboard polls every second: that is the page, not the user."""
    start = utcnow()
    with frozen_at(start):
        _page_login(lab.client)
    with frozen_at(start + _idle(app) - timedelta(minutes=1)):
        polled = lab.client.get(f"{API}/auth/me", headers={BACKGROUND_HEADER: "1"})
        assert polled.status_code == 200
    with frozen_at(start + _idle(app) + timedelta(minutes=1)):
        assert lab.client.get("/lab/samples").status_code == 302


def test_api_tokens_do_not_time_out_when_idle(app, lab):
    tech = lab.as_("tech")
    with frozen_at(utcnow() + 10 * _idle(app)):
        assert tech.get("/auth/me").status_code == 200


def test_a_session_in_use_still_ends_at_its_absolute_lifetime(app, lab):
    # A day's idle timeout: a month of use in a few dozen requests.
    daily = create_app(replace(app.config["RECYCLAB"], session_idle_minutes=24 * 60))
    browser = daily.test_client()
    start = utcnow()
    with frozen_at(start):
        ok(browser.post(f"{API}/auth/login", json={"username": "tech", "password": "demo-tech"}))
    moment = start
    lifetime = daily.permanent_session_lifetime
    step = _idle(daily) - timedelta(minutes=1)
    while moment + step < start + lifetime:
        moment += step
        with frozen_at(moment):
            assert browser.get(f"{API}/auth/me").status_code == 200
    # Active a moment ago, but the login is older than the lifetime.
    with frozen_at(start + lifetime + timedelta(minutes=1)):
        assert browser.get(f"{API}/auth/me").status_code == 401
    daily.extensions["recyclab.engine"].dispose()


def test_an_idle_timeout_under_a_minute_is_refused(monkeypatch):
    """0 (or less) would end every session at its next request, not turn the timeout off."""
    from lims.kernel.settings import load_settings

    monkeypatch.setenv("RECYCLAB_SESSION_IDLE_MINUTES", "0")
    with pytest.raises(ValueError, match="RECYCLAB_SESSION_IDLE_MINUTES"):
        load_settings()
