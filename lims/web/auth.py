"""Who is calling: a bearer token (machine clients) or the user id in the signed session
cookie (pages and the browser's API calls), resolved once per request into g.user. Pages declare
the roles they serve with @login_required(...); API blueprints call require_user()."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask, abort, g, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_smorest import abort as api_abort

from lims.identity import user_for_token
from lims.kernel.models import User
from lims.permissions import Capability, can
from lims.web.request_db import db

SESSION_KEY = "user_id"
# The user's session_version when the session began; a higher one in the database ends it.
VERSION_KEY = "session_version"

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


def _resolve() -> User | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return user_for_token(db(), token.strip())
    user_id = session.get(SESSION_KEY)
    if user_id is None:
        return None
    user = db().get(User, user_id)
    if user is None or not user.active or session.get(VERSION_KEY) != user.session_version:
        return None
    return user


def require_user() -> User:
    """The API's gate: 401 in the API's JSON error format when nobody is calling."""
    user = current_user()
    if user is None:
        api_abort(
            401, message="authentication required: log in or send 'Authorization: Bearer <token>'"
        )
    return user


def log_in(user: User) -> None:
    # A fresh session on login, so a cookie planted before login is worth nothing after it.
    lang = session.get("lang")
    session.clear()
    session[SESSION_KEY] = user.id
    session[VERSION_KEY] = user.session_version
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
                return redirect(url_for("web_auth.login", next=request.full_path.rstrip("?")))
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
            },
        }
