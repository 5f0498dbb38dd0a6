"""Who is calling: a bearer token (machine clients) or the signed session cookie (web)."""

from __future__ import annotations

from flask import g, request, session
from flask_smorest import abort

from lims.kernel.models import User
from lims.request_db import db
from lims.services.auth import user_for_token

SESSION_KEY = "user_id"


def current_user() -> User | None:
    if "current_user" not in g:
        g.current_user = _resolve()
    return g.current_user


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
    user = current_user()
    if user is None:
        abort(
            401, message="authentication required: log in or send 'Authorization: Bearer <token>'"
        )
    return user
