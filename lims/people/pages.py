"""Login, logout, the language switch and the start page (which sends each role to its work)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from lims.kernel.errors import InputError
from lims.people.login import LoginThrottled, changed_password, checked_login, log_out
from lims.web.auth import PASSWORD_PAGE, current_user, keep_session, log_in, login_required
from lims.web.errors import web_blueprint
from lims.web.i18n import LANGUAGES
from lims.web.request_db import db

bp = web_blueprint("web_auth", __name__)

HOME_BY_ROLE = {
    "technician": "lab.samples",
    "reviewer": "review.queue",
    "engineer": "process.dashboard",
    "customer": "portal.certificates_list",
    "admin": "lab.samples",
}


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: a login link must not bounce the user to another site."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def too_many_failures(exc: LoginThrottled) -> str:
    return _("Too many failed logins for this account or from this computer. Wait %(n)s seconds"
             " and try again.", n=exc.seconds)


@bp.get("/")
@login_required()
def home():
    return redirect(url_for(HOME_BY_ROLE.get(current_user().role, "web_auth.login")))


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    status = 200
    if request.method == "POST":
        try:
            user = checked_login(request.form.get("username", "").strip(), request.form.get("password", ""))
        except LoginThrottled as exc:
            error = too_many_failures(exc)
            return render_template("login.html", error=error), 429, {"Retry-After": str(exc.seconds)}
        if user is not None:
            log_in(user)
            if user.must_change_password:
                return redirect(url_for(PASSWORD_PAGE))
            return redirect(_safe_next(request.args.get("next")) or url_for("web_auth.home"))
        error = _("Unknown username or wrong password. Check both and try again.")
        status = 401
    return render_template("login.html", error=error), status


@bp.route("/account/password", methods=["GET", "POST"])
@login_required()
def change_password():
    user = current_user()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        new = request.form.get("password", "")
        try:
            if new != request.form.get("repeat", ""):
                raise InputError("repeat", _("The two new passwords differ."))
            changed_password(user.username, request.form.get("current_password", ""), new)
        except LoginThrottled as exc:
            errors = {"current_password": [too_many_failures(exc)]}
        except InputError as exc:
            db().rollback()
            errors = exc.errors
        else:
            keep_session(user)
            flash(_("Your password is changed. Other browsers logged in as you are logged out."), "success")
            return redirect(url_for("web_auth.home"))
    return render_template("account/password.html", errors=errors), 422 if errors else 200


@bp.post("/logout")
def logout():
    log_out()
    flash(_("You are logged out."), "info")
    return redirect(url_for("web_auth.login"))


@bp.post("/lang")
def set_language():
    lang = request.form.get("lang", "")
    if lang in LANGUAGES:
        session["lang"] = lang
    return redirect(_safe_next(request.form.get("next")) or url_for("web_auth.home"))
