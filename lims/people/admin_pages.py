"""Administration pages: users (list, create, deactivate), organizations (list; name, address
and the language their certificates are printed in), API tokens (each user mints and revokes
their own; the administrator sees and revokes anyone's). Every change goes through
lims.people.accounts, which writes the audit trail."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from marshmallow import ValidationError
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from lims.kernel.clock import utcnow
from lims.kernel.errors import DomainError, InputError, NotFound
from lims.kernel.models import ApiToken, Organization, User
from lims.kernel.models.user import ROLES
from lims.kernel.settings import TOKEN_LIFETIME_MAX_DAYS
from lims.people import accounts
from lims.people.login import LoginThrottled, minted_token
from lims.people.pages import too_many_failures
from lims.people.schemas import TokenCreateSchema, UserCreateSchema
from lims.permissions import NEW_USER_ROLE, Capability
from lims.web.auth import current_user, login_required
from lims.web.errors import web_blueprint
from lims.web.request_db import db

bp = web_blueprint("admin_pages", __name__)
NEW_TOKEN = "new_api_token"
# A token expiring within this is marked on the tokens page, so its owner replaces it in time.
EXPIRES_SOON = timedelta(days=7)
# The language a certificate is printed in, named in the page's language.
CERTIFICATE_LANGUAGES = {"en": _l("English"), "nl": _l("Dutch")}
ORGANIZATION_KINDS = {
    "lab": _l("laboratory"), "customer": _l("customer"), "supplier": _l("supplier"), "provider": _l("external provider"),
}


def _failed(exc: DomainError) -> dict[str, list[str]]:
    return exc.errors if isinstance(exc, InputError) else {"_": [exc.message]}


def _new_user_defaults(organizations: list[Organization]) -> dict[str, str]:
    """What the new-user form starts with: the least privileged staff role, at the lab (where
    staff belong)."""
    lab = next((o.key for o in organizations if o.kind == "lab"), "")
    return {"role": NEW_USER_ROLE, "organization": lab}


def _users_page(errors: dict[str, list[str]] | None = None, status: int = 200):
    tokens = dict(
        db().execute(
            select(ApiToken.user_id, func.count())
            .where(ApiToken.revoked_at.is_(None), or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > utcnow()))
            .group_by(ApiToken.user_id)
        ).all()
    )
    organizations = _organizations()
    return render_template(
        "admin/users.html",
        users=db().scalars(select(User).options(joinedload(User.organization)).order_by(User.username)).all(),
        organizations=organizations,
        roles=ROLES,
        active_tokens=tokens,
        errors=errors or {},
        form=request.form if errors else _new_user_defaults(organizations),
    ), status


@bp.get("/admin/users")
@login_required(Capability.ADMINISTER)
def users():
    return _users_page()


@bp.post("/admin/users")
@login_required(Capability.ADMINISTER)
def create_user():
    try:
        data = UserCreateSchema().load({k: v for k, v in request.form.items() if k != "csrf_token" and v != ""})
    except ValidationError as exc:
        return _users_page({f: list(m) for f, m in exc.messages.items()}, 422)
    try:
        org = db().scalar(select(Organization).where(Organization.key == data.pop("organization")))
        if org is None:
            raise InputError("organization", _("unknown organization"))
        user = accounts.create_user(db(), current_user(), organization=org, **data)
    except DomainError as exc:
        db().rollback()
        return _users_page(_failed(exc), exc.status)
    flash(_("User %(name)s created. Give them the password in person: they choose their own at their first"
            " login and create their own API tokens.", name=user.username), "success")
    return redirect(url_for("admin_pages.users"))


def _change_user(username: str, change: Callable[[User], object], done: str, field: str = ""):
    """One change to a user from a button in the users table: its refusal is shown above the
    table (not under the new-user form's fields of the same name), or, when it is about the
    row's own `field` (the temporary password), under that field of the user's row, as
    "<field>-<username>" (the template's name for it)."""
    user = db().scalar(select(User).where(User.username == username))
    if user is None:
        return _users_page({"_": [_("user %(name)s not found", name=username)]}, 404)
    try:
        change(user)
    except DomainError as exc:
        db().rollback()
        refused = _failed(exc)
        if field in refused:
            return _users_page({f"{field}-{username}": refused[field]}, exc.status)
        return _users_page({"_": [exc.message]}, exc.status)
    flash(done, "success")
    return redirect(url_for("admin_pages.users"))


@bp.post("/admin/users/<username>/active")
@login_required(Capability.ADMINISTER)
def set_active(username: str):
    active = request.form.get("active") == "1"
    if not active and request.form.get("confirmed") != "1":
        # Deactivating ends a colleague's access at once: one click on the wrong row must not.
        return render_template("admin/confirm_deactivate.html", username=username)
    done = _("%(name)s can log in again.", name=username) if active else _(
        "%(name)s is deactivated: no login, and their API tokens no longer work.", name=username)
    return _change_user(username, lambda user: accounts.set_active(db(), current_user(), user, active), done)


@bp.post("/admin/users/<username>/password")
@login_required(Capability.ADMINISTER)
def set_password(username: str):
    password = request.form.get("password", "")
    done = _("Temporary password set for %(name)s: they choose their own at their next login. Their other"
             " logins ended and their API tokens are revoked.", name=username)
    return _change_user(
        username, lambda user: accounts.set_password(db(), current_user(), user, password), done, "password"
    )


def _organizations() -> list[Organization]:
    return list(db().scalars(select(Organization).order_by(Organization.kind != "lab", Organization.name)))


@bp.get("/admin/organizations")
@login_required(Capability.ADMINISTER)
def organizations():
    return render_template(
        "admin/organizations.html", organizations=_organizations(), languages=CERTIFICATE_LANGUAGES, kinds=ORGANIZATION_KINDS
    )


def _organization_page(org: Organization, errors: dict[str, list[str]] | None = None, status: int = 200):
    return render_template(
        "admin/organization.html", org=org, languages=CERTIFICATE_LANGUAGES, kinds=ORGANIZATION_KINDS,
        errors=errors or {}, form=request.form if errors else {},
    ), status


@bp.route("/admin/organizations/<key>", methods=["GET", "POST"])
@login_required(Capability.ADMINISTER)
def organization(key: str):
    org = accounts.get_org(db(), key)
    if request.method == "GET":
        return _organization_page(org)
    changes = {field: request.form.get(field, "") for field in ("name", "address", "language")}
    try:
        accounts.update_organization(db(), current_user(), org, changes)
    except DomainError as exc:
        db().rollback()
        return _organization_page(org, _failed(exc), exc.status)
    flash(_("%(name)s saved; its certificates are printed in %(language)s.", name=org.name,
            language=CERTIFICATE_LANGUAGES[org.language]), "success")
    return redirect(url_for("admin_pages.organizations"))


def _tokens_page(*, everyone: bool, created: tuple[ApiToken, str] | None = None,
                 errors: dict[str, list[str]] | None = None, status: int = 200):
    # A token's parent (shown as "minted with") is one of its owner's tokens, all of them on the
    # page: t.parent comes from the session's identity map, not a query per row.
    stmt = select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())
    if not everyone:
        stmt = stmt.where(ApiToken.user_id == current_user().id)
    now = utcnow()
    return render_template(
        "admin/tokens.html", tokens=db().scalars(stmt).all(), everyone=everyone, created=created,
        errors=errors or {}, form=request.form if errors else {}, now=now, soon=now + EXPIRES_SOON,
        default_days=current_app.config["RECYCLAB"].token_lifetime_days, max_days=TOKEN_LIFETIME_MAX_DAYS,
    ), status


@bp.get("/account/tokens")
@login_required()
def my_tokens():
    new = session.pop(NEW_TOKEN, None)
    created = None
    if new is not None:
        row = db().get(ApiToken, new["id"])
        created = (row, new["token"]) if row is not None and row.user_id == current_user().id else None
    return _tokens_page(everyone=False, created=created)


@bp.post("/account/tokens")
@login_required()
def create_token():
    user = current_user()
    try:
        days = TokenCreateSchema(only=("expires_in_days",)).load(
            {"expires_in_days": request.form["expires_in_days"]} if request.form.get("expires_in_days") else {}
        ).get("expires_in_days")
    except ValidationError as exc:
        return _tokens_page(everyone=False, errors={f: list(m) for f, m in exc.messages.items()}, status=422)
    try:
        created = minted_token(user, request.form.get("name", "").strip(), request.form.get("password"), days)
    except LoginThrottled as exc:
        return _tokens_page(everyone=False, errors={"password": [too_many_failures(exc)]}, status=429)
    except DomainError as exc:
        db().rollback()
        return _tokens_page(everyone=False, errors=_failed(exc), status=exc.status)
    # Post/redirect/get, so a reload does not mint another token. The token rides to the next
    # page in the owner's own session cookie, is popped there, and is never shown again (the
    # database keeps only its hash).
    row, token = created
    session[NEW_TOKEN] = {"id": row.id, "token": token}
    return redirect(url_for("admin_pages.my_tokens"))


@bp.get("/admin/tokens")
@login_required(Capability.ADMINISTER)
def all_tokens():
    return _tokens_page(everyone=True)


@bp.post("/tokens/<int:token_id>/revoke")
@login_required()
def revoke_token(token_id: int):
    user = current_user()
    token = db().get(ApiToken, token_id)
    try:
        if token is None:
            raise NotFound(_("token not found"))
        revoked = accounts.revoke_token(db(), user, token)
    except NotFound:
        return _tokens_page(everyone=False, errors={"_": [_("token not found")]}, status=404)
    flash(_("Token %(name)s (%(prefix)s…) revoked: it no longer works.", name=token.name, prefix=token.prefix), "success")
    if len(revoked) > 1:
        flash(ngettext("The token minted with it is revoked too.", "The %(num)s tokens minted with it are revoked too.",
                       len(revoked) - 1), "success")
    mine = token.user_id == user.id and request.form.get("back") != "all"
    return redirect(url_for("admin_pages.my_tokens" if mine else "admin_pages.all_tokens"))
