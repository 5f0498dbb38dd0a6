"""Logging in and out, for the login page and the API alike: throttled against guessing, and
a logout that ends every session of the user."""

from __future__ import annotations

from flask import current_app, request, session
from sqlalchemy import select

from lims import throttle
from lims.audit import service as audit
from lims.kernel.errors import N_, InputError
from lims.kernel.models import ApiToken, User
from lims.kernel.models.audit import ENTITY_ID_LENGTH
from lims.people.accounts import authenticate, change_own_password, create_token, end_sessions
from lims.web.auth import SESSION_KEY, clear_session, current_token, current_user
from lims.web.request_db import db

NO_SUCH_ACCOUNT = "(no such account)"


class LoginThrottled(Exception):
    def __init__(self, seconds: int) -> None:
        super().__init__(f"too many failed logins; try again in {seconds} s")
        self.seconds = seconds


def checked_login(username: str, password: str) -> User | None:
    """The user these credentials belong to, or None; raises LoginThrottled while the account
    (from this client address, or from everywhere) or the address is blocked after repeated
    failures (then not even the right password is tried). The counters and the audit event are
    committed on their own: the request itself answers an error and rolls back. So is a login
    that flags the account for a password change (accounts.flag_common_password)."""
    keys = throttle.login_keys(username, request.remote_addr)
    counters = current_app.extensions["recyclab.sessions"]
    with counters.begin() as s:
        wait, blocked = throttle.login_attempt(s, keys)
    if wait:
        raise LoginThrottled(wait)
    user = authenticate(db(), username, password)
    if user is not None and user.must_change_password:
        # The API answers this login 403, which rolls the request back: the flag and its audit
        # event must stand all the same (so the account's tokens stop too). Committed before the
        # counters are written: SQLite would have them wait for this transaction's lock.
        db().commit()
    with counters.begin() as s:
        if user is not None:
            throttle.login_succeeded(s, keys)
            return user
        # A name no account has is often a password typed into the wrong field: the audit
        # trail, which all staff read, does not keep it.
        unknown = bool(blocked) and s.scalar(select(User.id).where(User.username == username)) is None
        if unknown:
            username = NO_SUCH_ACCOUNT
        # A block of the account from this address is the account's event too: the address
        # it is blocked for is beside it.
        account = NO_SUCH_ACCOUNT if unknown else keys.account.partition(":")[2]
        subjects = {keys.account: account, keys.pair: account, keys.address: keys.address.partition(":")[2]}
        for key, (failures, delay) in blocked.items():
            # A username may be longer than an event's subject: the whole one is in `after`.
            subject = subjects[key][:ENTITY_ID_LENGTH]
            audit.record(s, None, "login.throttled", key.partition(":")[0], subject, None, {
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


def changed_password(username: str, current: str, new: str) -> User:
    """The user's own new password, the current one tried as a login is (so guessing it here is
    throttled too): raises LoginThrottled, or InputError naming the field that is wrong."""
    user = checked_login(username, current)
    if user is None:
        raise InputError("current_password", N_("wrong username or current password"))
    return change_own_password(db(), user, current, new)


def minted_token(user: User, name: str, password: str | None, days: int | None = None) -> tuple[ApiToken, str]:
    """A new API token of the user's own, for the pages and the API alike. A browser session
    proves its user with the password first (tried as a login is, so guessing it here is
    throttled too): a login left open on a shared lab computer must not turn into a credential
    that outlives it, as a token outlives logout, the idle timeout and its owner's own password
    change. A caller sending a token holds a lasting credential already: the new token is that
    one's child (see create_token). Raises LoginThrottled, or InputError naming the field that
    is wrong."""
    parent = current_token()
    if parent is None:
        if not password:
            raise InputError("password", N_("give your password: a token outlives this login"))
        if checked_login(user.username, password) is None:
            raise InputError("password", N_("wrong password"))
    return create_token(db(), user, user, name, days=days, parent=parent,
                        default_days=current_app.config["RECYCLAB"].token_lifetime_days)
