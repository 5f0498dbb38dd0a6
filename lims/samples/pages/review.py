"""Reviewer pages: results to verify (never one's own: four eyes), verify or retract them,
certify verified samples and invalidate certified ones."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from lims.certificates import service as certificates
from lims.kernel.errors import DomainError, InputError
from lims.kernel.models import Analysis, Sample
from lims.people.session import REVIEW, current_user, login_required
from lims.permissions import get_analysis, get_lot, get_sample
from lims.samples import workflow
from lims.samples.pages import lab
from lims.web.errors import web_blueprint
from lims.web.request_db import db

bp = web_blueprint("review", __name__, url_prefix="/review")

# A reviewer works through the oldest first; more than this on one page only slows it down.
QUEUE_LIMIT = 100


def _queue_data() -> dict[str, object]:
    user = current_user()
    # Submitted results exist only on samples being tested, so the sample-state index leads
    # the search (oldest sample first) instead of a scan of every analysis ever entered.
    pending = list(
        db().scalars(
            select(Analysis)
            .join(Sample, Sample.id == Analysis.sample_id)
            .where(
                Sample.state.in_(("received", "to_be_verified")),
                Analysis.state == "submitted",
                Analysis.submitted_by_id != user.id,
            )
            .options(selectinload(Analysis.sample), selectinload(Analysis.submitted_by))
            .order_by(Sample.id, Analysis.id)
            .limit(QUEUE_LIMIT)
        )
    )
    verified = list(
        db().scalars(select(Sample).where(Sample.state == "verified").order_by(Sample.id).limit(QUEUE_LIMIT))
    )
    return {"pending": pending, "verified": verified, "limit": QUEUE_LIMIT}


@bp.get("/")
@login_required(*REVIEW)
def queue():
    return render_template("review/queue.html", errors=[], **_queue_data())


def _each_ticked(action) -> int:
    """Apply a workflow action to every ticked result; a refusal of any one propagates and the
    caller rolls all of them back. Returns how many were done."""
    user = current_user()
    ids = request.form.getlist("analysis", type=int)
    if not ids:
        raise InputError("analysis", _("Tick at least one result."))
    for analysis_id in ids:
        action(user, get_analysis(db(), user, analysis_id, for_update=True))
    return len(ids)


def _refused(exc: DomainError):
    db().rollback()
    return render_template("review/queue.html", errors=[exc.message], **_queue_data()), exc.status


@bp.post("/verify")
@login_required(*REVIEW)
def verify():
    try:
        count = _each_ticked(lambda user, analysis: workflow.verify(db(), user, analysis))
    except DomainError as exc:
        return _refused(exc)
    flash(ngettext("%(num)d result verified.", "%(num)d results verified.", count), "success")
    return redirect(url_for("review.queue"))


@bp.post("/retract")
@login_required(*REVIEW)
def retract():
    """Refuse the ticked results with one reason; each gets a new open analysis for the retest."""
    reason = request.form.get("reason", "")
    try:
        count = _each_ticked(lambda user, analysis: workflow.retract(db(), user, analysis, reason))
    except DomainError as exc:
        return _refused(exc)
    flash(
        ngettext(
            "%(num)d result retracted; a new analysis is open for the retest.",
            "%(num)d results retracted; new analyses are open for the retests.",
            count,
        ),
        "success",
    )
    return redirect(url_for("review.queue"))


def _certificate_link(cert) -> Markup:
    """The certificate's number as a link to its row (PDF, JSON, verify) in the certificate list."""
    return Markup('<a href="{}">{}</a>').format(url_for("portal.certificates_list", q=cert.number), cert.number)


@bp.post("/samples/<code>/certify")
@login_required(*REVIEW)
def certify(code: str):
    user = current_user()
    sample = get_sample(db(), user, code, for_update=True)
    issuer = certificates.Issuer.from_settings(current_app.config["RECYCLAB"])
    try:
        cert = certificates.issue_for_sample(db(), issuer, user, sample)
    except DomainError as exc:
        return _refused(exc)
    flash(Markup(_("Certificate %(number)s issued for %(code)s.", number=_certificate_link(cert), code=escape(code))), "success")
    return redirect(url_for("review.queue"))


@bp.post("/lots/<int:lot_id>/certify")
@login_required(*REVIEW)
def certify_lot(lot_id: int):
    """One certificate for the lot from all its verified samples."""
    user = current_user()
    lot = get_lot(db(), user, lot_id)
    issuer = certificates.Issuer.from_settings(current_app.config["RECYCLAB"])
    try:
        cert = certificates.issue_for_lot(db(), issuer, user, lot)
    except DomainError as exc:
        db().rollback()
        return lab.lot_page(lot_id, {"_": [exc.message]}, exc.status)
    flash(Markup(_("Certificate %(number)s issued for lot %(code)s.", number=_certificate_link(cert), code=escape(lot.code))), "success")
    return redirect(url_for("lab.lot", lot_id=lot_id))


@bp.post("/samples/<code>/invalidate")
@login_required(*REVIEW)
def invalidate(code: str):
    """A certified sample found wrong after release becomes invalid."""
    user = current_user()
    sample = get_sample(db(), user, code, for_update=True)
    try:
        workflow.invalidate(db(), user, sample, request.form.get("reason", ""))
    except DomainError as exc:
        db().rollback()
        return lab.sample_page(code, {"_": [exc.message]}, exc.status)
    flash(_("Sample %(code)s is now invalid.", code=code), "success")
    return redirect(url_for("lab.sample", code=code))
