"""Login for the web (session cookie) and API tokens for machine clients."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import abort
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from lims.kernel.errors import NotFound
from lims.kernel.models import ApiToken, User
from lims.people import accounts as auth_service
from lims.people.login import LoginThrottled, changed_password, checked_login, log_out, minted_token
from lims.people.schemas import (
    CsrfTokenSchema,
    LoginSchema,
    PasswordChangeSchema,
    TokenCreatedSchema,
    TokenCreateSchema,
    TokenSchema,
    UserSchema,
)
from lims.permissions import Capability, can, require_own_password
from lims.web.api_blueprint import blueprint, page
from lims.web.auth import log_in, require_user
from lims.web.request_db import db
from lims.web.schemas import MessageSchema

login_blp = blueprint("auth", "/auth", "Session login for the web UI.", public=True)
tokens_blp = blueprint("tokens", "/tokens", "API tokens: created once, stored hashed, expiring, revocable.")
BLUEPRINTS = (login_blp, tokens_blp)


@login_blp.route("/login", methods=["POST"])
@login_blp.doc(security=[])
@login_blp.arguments(LoginSchema)
@login_blp.response(200, UserSchema)
def login(creds: dict):
    """Session login. After repeated failures the account from this client address, and the
    address, are blocked for a growing time (429 with Retry-After); after many more for the
    account from many addresses, the account."""
    try:
        user = checked_login(creds["username"], creds["password"])
    except LoginThrottled as exc:
        _throttled(exc)
    if user is None:
        abort(401, message="wrong username or password")
    require_own_password(user)
    log_in(user)
    return user


def _throttled(exc: LoginThrottled) -> None:
    abort(429, message=f"{exc}: the account or this address is blocked after repeated failures",
          headers={"Retry-After": str(exc.seconds)})


@login_blp.route("/password", methods=["POST"])
@login_blp.doc(security=[])
@login_blp.arguments(PasswordChangeSchema)
@login_blp.response(200, UserSchema)
def change_password(data: dict):
    """Choose one's own password, proven by the current one (also a temporary one an
    administrator set, with which login is refused). Ends the user's other sessions and logs
    this client in; throttled like the login."""
    try:
        user = changed_password(data["username"], data["current_password"], data["password"])
    except LoginThrottled as exc:
        _throttled(exc)
    log_in(user)
    return user


@login_blp.route("/logout", methods=["POST"])
@login_blp.response(200, MessageSchema)
def logout():
    log_out()
    return {"message": "logged out"}


@login_blp.route("/csrf")
@login_blp.doc(security=[])
@login_blp.response(200, CsrfTokenSchema)
def csrf_token():
    """The token a session-authenticated client sends as X-CSRFToken with every write."""
    return {"csrf_token": generate_csrf()}


@login_blp.route("/me")
@login_blp.response(200, UserSchema)
def me():
    return require_user()


def _visible_tokens(user: User):
    stmt = select(ApiToken).options(joinedload(ApiToken.user)).order_by(ApiToken.id)
    return stmt if can(user, Capability.ADMINISTER) else stmt.where(ApiToken.user_id == user.id)


@tokens_blp.route("")
class Tokens(MethodView):
    @tokens_blp.response(200, TokenSchema(many=True))
    @tokens_blp.paginate()
    def get(self, pagination_parameters):
        return page(_visible_tokens(require_user()), pagination_parameters)

    @tokens_blp.arguments(TokenCreateSchema)
    @tokens_blp.response(201, TokenCreatedSchema)
    def post(self, data: dict):
        user = require_user()
        auth_service.token_owner(user, data.get("user"))
        try:
            row, token = minted_token(user, data["name"], data.get("password"), data.get("expires_in_days"))
        except LoginThrottled as exc:
            _throttled(exc)
        row.token = token  # only in this response
        return row


@tokens_blp.route("/<int:token_id>", methods=["DELETE"])
@tokens_blp.response(204)
def revoke(token_id: int):
    """Revokes the token and every token minted with it (and theirs in turn)."""
    user = require_user()
    token = db().get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"token {token_id} not found")
    auth_service.revoke_token(db(), user, token)
