"""Releasing results from the review pages: certify a sample or a lot, amend or reopen a
sample's certificate, invalidate a certified sample. The rules are the certificate services';
a refusal is shown on the page the action came from."""

from __future__ import annotations

from flask import current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup, escape

from lims.certificates import amending, issuing
from lims.kernel.errors import DomainError, WorkflowError
from lims.kernel.models import Lot
from lims.kernel.models.certificate import open_certificate
from lims.permissions import Capability, get_lot, get_sample
from lims.samples.pages import lab, review
from lims.web.auth import current_user, login_required
from lims.web.errors import web_blueprint
from lims.web.request_db import db
from lims.web.state_names import STATE_NAMES

bp = web_blueprint("release", __name__, url_prefix="/review")


def _certificate_link(cert) -> Markup:
    """The certificate's number as a link to its row (PDF, JSON, verify) in the certificate list."""
    return Markup('<a href="{}">{}</a>').format(url_for("portal.certificates_list", q=cert.number), cert.number)


@bp.post("/samples/<code>/certify")
@login_required(Capability.REVIEW_RESULTS)
def certify(code: str):
    user = current_user()
    sample = get_sample(db(), user, code, for_update=True)
    issuer = issuing.Issuer.from_settings(current_app.config["RECYCLAB"])
    try:
        cert = issuing.issue_for_sample(db(), issuer, user, sample)
    except DomainError as exc:
        return review.refused(exc)
    flash(Markup(_("Certificate %(number)s issued for %(code)s.", number=_certificate_link(cert), code=escape(code))), "success")
    return redirect(url_for("review.queue"))


@bp.post("/lots/<int:lot_id>/certify")
@login_required(Capability.REVIEW_RESULTS)
def certify_lot(lot_id: int):
    """One certificate for the lot from all its verified samples."""
    user = current_user()
    lot = get_lot(db(), user, lot_id)
    issuer = issuing.Issuer.from_settings(current_app.config["RECYCLAB"])
    try:
        cert = issuing.issue_for_lot(db(), issuer, user, lot)
    except DomainError as exc:
        db().rollback()
        return lab.lot_page(lot_id, {"_": [exc.message]}, exc.status)
    flash(Markup(_("Certificate %(number)s issued for lot %(code)s.", number=_certificate_link(cert), code=escape(lot.code))), "success")
    return redirect(url_for("lab.lot", lot_id=lot_id))


def lot_certification_refusal(lot: Lot) -> str | None:
    """Why the lot page offers no "Certify the lot" (None: it offers it): the issuing service's
    answer, so the page never offers what a click would be refused."""
    return issuing.lot_refusal(db(), lot)


bp.add_app_template_global(lot_certification_refusal)


@bp.post("/samples/<code>/invalidate")
@login_required(Capability.REVIEW_RESULTS)
def invalidate(code: str):
    """A certified sample found wrong after release becomes invalid."""
    user = current_user()
    sample = get_sample(db(), user, code, for_update=True)
    try:
        amending.invalidate_sample(db(), user, sample, request.form.get("reason", ""))
    except DomainError as exc:
        db().rollback()
        return lab.sample_page(code, {"_": [exc.message]}, exc.status)
    flash(_("Sample %(code)s is now invalid.", code=code), "success")
    return redirect(url_for("lab.sample", code=code))


def _on_certificate(code: str, act) -> object:
    """Amend or reopen the sample's open certificate from the sample page. The service locks the
    certificate's samples, in id order, before the certificate (this one among them)."""
    user = current_user()
    sample = get_sample(db(), user, code)
    try:
        cert = open_certificate(db(), sample)
        if cert is None:
            raise WorkflowError(_("sample %(code)s has no certificate to amend", code=code))
        done = act(user, cert, request.form.get("reason", ""))
    except DomainError as exc:
        db().rollback()
        return lab.sample_page(code, {"_": [exc.message]}, exc.status)
    flash(Markup(_("Certificate %(number)s: %(status)s.", number=_certificate_link(done), status=STATE_NAMES.get(done.status, done.status))), "success")
    return redirect(url_for("lab.sample", code=code))


@bp.post("/samples/<code>/amend")
@login_required(Capability.REVIEW_RESULTS)
def amend(code: str):
    """7.8.8: a new revision of the sample's certificate, with the reason."""
    issuer = issuing.Issuer.from_settings(current_app.config["RECYCLAB"])
    return _on_certificate(code, lambda user, cert, reason: amending.amend(db(), issuer, user, cert, reason))


@bp.post("/samples/<code>/reopen")
@login_required(Capability.REVIEW_RESULTS)
def reopen(code: str):
    """Withdraw the certificate to correct results: the sample is verified again, for retests."""
    return _on_certificate(code, lambda user, cert, reason: amending.reopen(db(), user, cert, reason))
