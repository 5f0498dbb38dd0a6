"""Logging in and out, for the login page and the API alike: throttled against guessing, and
a logout that ends every session of the user."""

from __future__ import annotations

from flask import current_app, request, session

from lims import throttle
from lims.audit import service as audit
from lims.kernel.models import User
from lims.people.accounts import authenticate, end_sessions
from lims.web.auth import SESSION_KEY, clear_session, current_user
from lims.web.request_db import db


class LoginThrottled(Exception):
    def __init__(self, seconds: int) -> None:
        super().__init__(f"too many failed logins; try again in {seconds} s")
        self.seconds = seconds


def checked_login(username: str, password: str) -> User | None:
    """The user these credentials belong to, or None; raises LoginThrottled while the account or
    the client address is blocked after repeated failures (then not even the right password is
    tried). The counters and the audit event are committed on their own: the request itself
    answers an error and rolls back."""
    keys = throttle.login_keys(username, request.remote_addr)
    counters = current_app.extensions["recyclab.sessions"]
    with counters.begin() as s:
        wait = throttle.wait_seconds(s, keys)
    if wait:
        raise LoginThrottled(wait)
    user = authenticate(db(), username, password)
    with counters.begin() as s:
        if user is not None:
            throttle.login_succeeded(s, keys[0])
            return user
        for key, (failures, delay) in throttle.login_failed(s, keys).items():
            kind, _, subject = key.partition(":")
            audit.record(s, None, "login.throttled", kind, subject, None, {
                "failures": failures, "blocked_seconds": int(delay.total_seconds()),
                "username": username[:80], "address": request.remote_addr,
            })
    return None


def log_out() -> None:
    """Ends every session of the user, not only this cookie: a copy of it (another tab, a
    stolen one) would otherwise stay valid until the key changes."""
    user = current_user()
    if user is not None and session.get(SESSION_KEY) == user.id:
        end_sessions(user)
    clear_session()
