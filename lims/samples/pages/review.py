"""Reviewer pages: results to verify (never one's own: four eyes), verify or retract them,
certify verified samples and invalidate certified ones."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from markupsafe import Markup, escape
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from lims.certificates import amending, issuing, search
from lims.kernel.errors import DomainError, InputError, WorkflowError
from lims.kernel.models import Analysis, Sample
from lims.permissions import Capability, get_analysis, get_lot, get_sample
from lims.samples import workflow
from lims.samples.pages import lab
from lims.web.auth import current_user, login_required
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
                # Four eyes: never one's own results (workflow.check_four_eyes decides on verify).
                Analysis.submitted_by_id != user.id,
                or_(Analysis.analyst_id.is_(None), Analysis.analyst_id != user.id),
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
@login_required(Capability.REVIEW_RESULTS)
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
@login_required(Capability.REVIEW_RESULTS)
def verify():
    try:
        count = _each_ticked(lambda user, analysis: workflow.verify(db(), user, analysis))
    except DomainError as exc:
        return _refused(exc)
    flash(ngettext("%(num)d result verified.", "%(num)d results verified.", count), "success")
    return redirect(url_for("review.queue"))


@bp.post("/retract")
@login_required(Capability.REVIEW_RESULTS)
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
@login_required(Capability.REVIEW_RESULTS)
def certify(code: str):
    user = current_user()
    sample = get_sample(db(), user, code, for_update=True)
    issuer = issuing.Issuer.from_settings(current_app.config["RECYCLAB"])
    try:
        cert = issuing.issue_for_sample(db(), issuer, user, sample)
    except DomainError as exc:
        return _refused(exc)
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
    """Amend or reopen the sample's open certificate from the sample page."""
    user = current_user()
    sample = get_sample(db(), user, code, for_update=True)
    try:
        cert = search.open_certificate(db(), sample)
        if cert is None:
            raise WorkflowError(f"sample {code} has no certificate to amend")
        done = act(user, cert, request.form.get("reason", ""))
    except DomainError as exc:
        db().rollback()
        return lab.sample_page(code, {"_": [exc.message]}, exc.status)
    flash(_("Certificate %(number)s: %(status)s.", number=done.number, status=done.status), "success")
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
