"""Who is calling: a bearer token (machine clients) or the user id in the signed session
cookie (pages and the browser's API calls), resolved once per request into g.user. Pages declare
the roles they serve with @login_required(...); API blueprints call require_user()."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from flask import Flask, abort, current_app, flash, g, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_smorest import abort as api_abort

from lims.identity import TokenExpired, authenticated_token, note_use
from lims.kernel.clock import utcnow
from lims.kernel.models import ApiToken, User
from lims.permissions import Capability, can, require_own_password
from lims.web.request_db import db

SESSION_KEY = "user_id"
# Where a user whose password an administrator set is sent until they chose their own.
PASSWORD_PAGE = "web_auth.change_password"
# The user's session_version when the session began; a higher one in the database ends it.
VERSION_KEY = "session_version"
# When the session began and when its user last did something (epoch seconds by the app's
# clock): in the signed cookie, so every web process judges the idle timeout alike.
LOGIN_AT_KEY = "login_at"
SEEN_AT_KEY = "seen_at"
# Set when a session ended for inactivity, until a page tells the user so.
ENDED_IDLE_KEY = "ended_idle"
# A page's own background requests (live values, alarm panel, chart refresh) send this header:
# they are the page, not its user, and keep no session alive.
BACKGROUND_HEADER = "X-Recyclab-Background"
# The last activity is restamped at most this often, so not every answer re-sends the cookie.
SEEN_STEP = timedelta(minutes=1)

ROLE_NAMES = {
    "admin": _l("administrator"),
    "technician": _l("lab technician"),
    "reviewer": _l("reviewer"),
    "engineer": _l("process engineer"),
    "customer": _l("customer"),
}


def current_user() -> User | None:
    if "user" not in g:
        g.user = _resolve()
    return g.user


def current_token() -> ApiToken | None:
    """The API token this request authenticated with; None for a session (or nobody)."""
    current_user()
    return g.get("api_token")


def _resolve() -> User | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return None
        try:
            token = authenticated_token(db(), secret.strip())
        except TokenExpired as exc:
            g.token_expired = exc
            return None
        if token is None:
            return None
        note_use(current_app.extensions["recyclab.sessions"], token)
        g.api_token = token
        return token.user
    user_id = session.get(SESSION_KEY)
    if user_id is None or not _session_alive():
        return None
    user = db().get(User, user_id)
    if user is None or not user.active or session.get(VERSION_KEY) != user.session_version:
        return None
    return user


def _idle_limit() -> timedelta:
    return timedelta(minutes=current_app.config["RECYCLAB"].session_idle_minutes)


def _session_alive() -> bool:
    """Whether the session cookie's login is within the idle timeout and the absolute lifetime;
    one that is not is ended here. A live one's last activity moves to now (a background
    request leaves it)."""
    now = int(utcnow().timestamp())
    seen_at = session.get(SEEN_AT_KEY, 0)
    if now - seen_at > _idle_limit().total_seconds():
        clear_session()
        session[ENDED_IDLE_KEY] = True
        return False
    if now - session.get(LOGIN_AT_KEY, 0) > current_app.permanent_session_lifetime.total_seconds():
        clear_session()
        return False
    if not request.headers.get(BACKGROUND_HEADER) and now - seen_at >= SEEN_STEP.total_seconds():
        session[SEEN_AT_KEY] = now
    return True


def _ended_idle_message() -> str:
    minutes = int(_idle_limit().total_seconds() // 60)
    return _("You were logged out after %(n)s minutes without activity. Log in again to continue.", n=minutes)


def require_user() -> User:
    """The API's gate: 401 in the API's JSON error format when nobody is calling."""
    user = current_user()
    if user is None:
        if "token_expired" in g:
            api_abort(401, message=str(g.token_expired))
        if session.get(ENDED_IDLE_KEY):
            minutes = int(_idle_limit().total_seconds() // 60)
            api_abort(401, message=f"the session ended after {minutes} minutes without activity: log in again")
        api_abort(
            401, message="authentication required: log in or send 'Authorization: Bearer <token>'"
        )
    require_own_password(user)
    return user


def log_in(user: User) -> None:
    # A fresh session on login, so a cookie planted before login is worth nothing after it.
    lang = session.get("lang")
    session.clear()
    session[SESSION_KEY] = user.id
    session[VERSION_KEY] = user.session_version
    session[LOGIN_AT_KEY] = session[SEEN_AT_KEY] = int(utcnow().timestamp())
    if lang:
        session["lang"] = lang
    g.user = user


def keep_session(user: User) -> None:
    """After a change that ended the user's sessions (password), keep the one making it."""
    if session.get(SESSION_KEY) == user.id:
        session[VERSION_KEY] = user.session_version


def clear_session() -> None:
    """Forget the login in this cookie (the language choice stays)."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    g.user = None


def login_required(capability: Capability | None = None) -> Callable:
    """Anonymous users go to the login page; a logged-in user whose role lacks the capability
    gets 403."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            user = current_user()
            if user is None:
                # A page's own background requests (live values, charts) cannot follow a
                # redirect to a login form: they get 401 and the page reloads into the login.
                if request.headers.get("HX-Request") or request.accept_mimetypes.best == "application/json":
                    abort(401)
                if session.pop(ENDED_IDLE_KEY, False):
                    flash(_ended_idle_message(), "info")
                return redirect(url_for("web_auth.login", next=request.full_path.rstrip("?")))
            if user.must_change_password and request.endpoint != PASSWORD_PAGE:
                return redirect(url_for(PASSWORD_PAGE))
            if capability is not None and not can(user, capability):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def init_app(app: Flask) -> None:
    @app.context_processor
    def _user() -> dict[str, object]:
        user = current_user() if request.endpoint != "static" else None
        return {
            "current_user": user,
            "role_names": ROLE_NAMES,
            # The navigation shows what the pages' login_required would let through.
            "can": {
                "lab": can(user, Capability.HANDLE_SAMPLES),
                "review": can(user, Capability.REVIEW_RESULTS),
                "process": can(user, Capability.READ_PROCESS_DATA),
                "models": can(user, Capability.SEE_MODELS),
                "certificates": can(user, Capability.READ_CERTIFICATES),
                "lots": can(user, Capability.FIND_LOTS),
                "admin": can(user, Capability.ADMINISTER),
                "audit": can(user, Capability.READ_AUDIT),
                "predict": can(user, Capability.REQUEST_PREDICTIONS),
            },
        }
