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

from lims.kernel.models import User
from lims.people.accounts import user_for_token
from lims.web.request_db import db

SESSION_KEY = "user_id"

# What each role may open; the navigation shows the same sets.
LAB = ("technician", "reviewer", "admin")
REVIEW = ("reviewer", "admin")
PROCESS = ("engineer", "technician", "reviewer", "admin")
MODELS = ("engineer", "reviewer", "admin")
CERTIFICATES = ("customer", "reviewer", "technician", "admin")
LOTS = ("engineer", "technician", "reviewer", "admin")
ADMIN = ("admin",)
AUDIT = ("admin", "reviewer")

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
    return user if user is not None and user.active else None


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
    if lang:
        session["lang"] = lang
    g.user = user


def log_out() -> None:
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    g.user = None


def login_required(*roles: str) -> Callable:
    """Anonymous users go to the login page; a logged-in user without the role gets 403."""

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
            if roles and user.role not in roles:
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
            "can": {
                "lab": bool(user and user.role in LAB),
                "review": bool(user and user.role in REVIEW),
                "process": bool(user and user.role in PROCESS),
                "models": bool(user and user.role in MODELS),
                "certificates": bool(user and user.role in CERTIFICATES),
                "lots": bool(user and user.role in LOTS),
                "admin": bool(user and user.role in ADMIN),
                "audit": bool(user and user.role in AUDIT),
            },
        }
