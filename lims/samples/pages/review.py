"""Reviewer pages: results to verify (never one's own: four eyes), verify or retract them.
Releasing (certify, amend, reopen, invalidate) is the certificates' (lims.certificates.pages.release)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from lims.kernel.errors import DomainError, InputError
from lims.kernel.models import Analysis, Sample
from lims.kernel.models.certificate import open_certificates
from lims.permissions import Capability, get_analysis, in_lock_order
from lims.samples import workflow
from lims.web.auth import current_user, login_required
from lims.web.errors import web_blueprint
from lims.web.limits import query_int
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
    return {
        "pending": pending, "reaches": workflow.reaches(db(), pending), "verified": verified, "limit": QUEUE_LIMIT,
        # A sample reopened to correct its certificate is certified again only by amending it.
        "reopened": open_certificates(db(), [s.id for s in verified]),
    }


@bp.get("/")
@login_required(Capability.REVIEW_RESULTS)
def queue():
    return render_template("review/queue.html", errors=[], ticked=set(), reason="", **_queue_data())


def _each_ticked(action) -> int:
    """Apply a workflow action to every ticked result; a refusal of any one propagates and the
    caller rolls all of them back. Returns how many were done."""
    user = current_user()
    ids = request.form.getlist("analysis", type=query_int)
    if not ids:
        raise InputError("analysis", _("Tick at least one result."))
    for analysis_id in in_lock_order(db(), ids):
        action(user, get_analysis(db(), user, analysis_id, for_update=True))
    return len(ids)


def refused(exc: DomainError):
    """The queue again, with why the action was refused (after rolling the request back)."""
    db().rollback()
    # What was ticked and typed stays, so correcting the one thing refused finishes the job.
    ticked = set(request.form.getlist("analysis", type=query_int))
    return render_template(
        "review/queue.html", errors=[exc.message], ticked=ticked, reason=request.form.get("reason", ""),
        **_queue_data(),
    ), exc.status


@bp.post("/verify")
@login_required(Capability.REVIEW_RESULTS)
def verify():
    try:
        count = _each_ticked(lambda user, analysis: workflow.verify(db(), user, analysis))
    except DomainError as exc:
        return refused(exc)
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
        return refused(exc)
    flash(
        ngettext(
            "%(num)d result retracted; a new analysis is open for the retest.",
            "%(num)d results retracted; new analyses are open for the retests.",
            count,
        ),
        "success",
    )
    return redirect(url_for("review.queue"))
