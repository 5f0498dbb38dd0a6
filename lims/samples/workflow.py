"""The one place that moves samples and analyses between states.

Sample: registered -receive-> received -(all analyses submitted)-> to_be_verified
        -(all verified)-> verified -certify-> certified -invalidate-> invalid;
        registered -cancel-> cancelled; received -reject-> rejected.
Analysis: unassigned -submit-> submitted -verify-> verified; submitted -retract-> retracted and
        submitted|verified -retest-> retracted, each creating a new unassigned analysis (the
        original is kept). A sample follows its analyses between received, to_be_verified and
        verified; reaching verified computes its grade, leaving it clears the grade.

A transition that is not allowed raises WorkflowError with the reason (HTTP 409); each one
writes an audit event in the caller's transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from lims.audit import service as audit
from lims.kernel.clock import utcnow
from lims.kernel.errors import N_, DomainError, InputError, Text, WorkflowError, either
from lims.kernel.models import Analysis, OosInvestigation, Sample, User
from lims.permissions import Capability, can, require
from lims.samples import grading
from lims.samples.registration import STORAGE_MAX, at_most
from lims.samples.results import analysis_result, as_result, external_provider, load_spec, measure

_Obj = TypeVar("_Obj", Sample, Analysis)
# What the instrument column holds.
INSTRUMENT_MAX = 100
# How far an instrument PC's clock may run ahead of the server's before its time is refused.
CLOCK_SKEW = timedelta(minutes=5)

# Sample states in which results may be entered, retracted or retested.
_TESTING = ("received", "to_be_verified", "verified")
_ENTERING = ("received", "to_be_verified")

# Who may do what in which state. The guards below and allowed_actions() read these tables, so
# a page offers exactly the actions the service would accept.
# sample action -> (capability, sample states, the refusal in another state)
SAMPLE_ACTIONS: dict[str, tuple[Capability, tuple[str, ...], str]] = {
    "receive": (Capability.HANDLE_SAMPLES, ("registered",), N_("cannot receive sample %(code)s: it is %(state)s (needs %(needs)s)")),
    "cancel": (Capability.HANDLE_SAMPLES, ("registered",), N_("cannot cancel sample %(code)s: it is %(state)s (needs %(needs)s)")),
    "reject": (Capability.HANDLE_SAMPLES, ("received",), N_("cannot reject sample %(code)s: it is %(state)s (needs %(needs)s)")),
    "enter_results": (Capability.HANDLE_SAMPLES, _ENTERING, N_("cannot enter results for sample %(code)s: it is %(state)s (needs %(needs)s)")),
    "certify": (Capability.REVIEW_RESULTS, ("verified",), N_("cannot certify sample %(code)s: it is %(state)s (needs %(needs)s)")),
    "invalidate": (Capability.REVIEW_RESULTS, ("certified",), N_("cannot invalidate sample %(code)s: it is %(state)s (needs %(needs)s)")),
    "reopen": (Capability.REVIEW_RESULTS, ("certified",), N_("cannot reopen sample %(code)s: it is %(state)s (needs %(needs)s)")),
}
# analysis action -> (capability, analysis states, sample states, refusal when the analysis is
# in another state)
ANALYSIS_ACTIONS: dict[str, tuple[Capability, tuple[str, ...], tuple[str, ...], str]] = {
    "submit": (
        Capability.HANDLE_SAMPLES,
        ("unassigned",),
        _ENTERING,
        N_("a result can be entered only once (retest instead)"),
    ),
    "verify": (
        Capability.REVIEW_RESULTS,
        ("submitted",),
        _TESTING,
        N_("only a submitted result can be verified"),
    ),
    "retract": (
        Capability.REVIEW_RESULTS,
        ("submitted",),
        _TESTING,
        N_("only a submitted result can be retracted"),
    ),
    "retest": (
        Capability.HANDLE_SAMPLES,
        ("submitted", "verified"),
        _TESTING,
        N_("only a result can be retested"),
    ),
}
# analysis action -> the refusal when its sample is in another state
_SAMPLE_REFUSALS = {
    "submit": SAMPLE_ACTIONS["enter_results"][2],
    "verify": N_("cannot verify sample %(code)s: it is %(state)s (needs %(needs)s)"),
    "retract": N_("cannot retract sample %(code)s: it is %(state)s (needs %(needs)s)"),
    "retest": N_("cannot retest sample %(code)s: it is %(state)s (needs %(needs)s)"),
}


def state_word(state: str) -> Text:
    """A state as the page badges name it ("to be verified"), so the catalogue knows it."""
    return Text(state.replace("_", " "))


def _either(states: tuple[str, ...]) -> str:
    return either([state_word(s) for s in states])


def guard_sample(actor: User, sample: Sample, action: str) -> None:
    """Raises Forbidden or WorkflowError unless `actor` may do `action` to the sample now."""
    capability, states, refusal = SAMPLE_ACTIONS[action]
    require(actor, capability)
    _require_sample_state(sample, states, refusal)
    if action == "reject" and any(a.state in ("submitted", "verified") for a in sample.analyses):
        raise WorkflowError(
            N_("cannot reject sample %(code)s: it has results; retract them first", code=sample.code)
        )


def guard_analysis(actor: User, analysis: Analysis, action: str) -> None:
    """Raises Forbidden or WorkflowError unless `actor` may do `action` to the analysis now."""
    capability, states, sample_states, refusal = ANALYSIS_ACTIONS[action]
    require(actor, capability)
    if analysis.state not in states:
        raise WorkflowError(
            N_("analysis %(id)s is %(state)s; %(refusal)s", id=analysis.id, state=state_word(analysis.state), refusal=refusal)
        )
    _require_sample_state(analysis.sample, sample_states, _SAMPLE_REFUSALS[action])
    if action == "verify":
        check_four_eyes(analysis, actor)


def allowed_actions(obj: Sample | Analysis, user: User | None) -> frozenset[str]:
    """The actions `user` may take on the sample or analysis in its current state: what pages
    offer as buttons. Computed by the same guards the transitions run."""
    if user is None:
        return frozenset()
    if isinstance(obj, Sample):
        return _passing(user, obj, guard_sample, SAMPLE_ACTIONS)
    return _passing(user, obj, guard_analysis, ANALYSIS_ACTIONS)


def _passing(
    user: User, obj: _Obj, guard: Callable[[User, _Obj, str], None], actions: Iterable[str]
) -> frozenset[str]:
    """The actions whose guard lets `user` act on `obj`."""
    allowed = set()
    for action in actions:
        try:
            guard(user, obj, action)
        except DomainError:
            continue
        allowed.add(action)
    return frozenset(allowed)


def _move_sample(
    session: Session, actor: User | None, sample: Sample, action: str, to: str, **changes
) -> None:
    before = audit.snapshot(sample)
    sample.state = to
    for key, value in changes.items():
        setattr(sample, key, value)
    audit.record(
        session, actor, f"sample.{action}", "sample", sample.code, before, audit.snapshot(sample)
    )


def _require_sample_state(sample: Sample, allowed: tuple[str, ...], refusal: str) -> None:
    if sample.state not in allowed:
        raise WorkflowError(
            Text(refusal, code=sample.code, state=state_word(sample.state), needs=_either(allowed))
        )


def receive(
    session: Session,
    actor: User,
    sample: Sample,
    storage_location: str | None = None,
    condition: str = "",
) -> Sample:
    guard_sample(actor, sample, "receive")
    if storage_location:
        at_most("storage_location", storage_location, STORAGE_MAX)
    condition = (condition or "").strip()
    # Printed on the certificate: refused when too long, never cut short.
    at_most("condition", condition, 400)
    changes: dict[str, object] = {
        "received_at": utcnow(),
        "received_by_id": actor.id,
        "condition_on_receipt": condition,
    }
    if storage_location:
        changes["storage_location"] = storage_location
    _move_sample(session, actor, sample, "receive", "received", **changes)
    _settle(session, actor, sample)
    return sample


def received_since(session: Session, actor: User, since: datetime, limit: int = 200) -> list[Sample]:
    """What `actor` received since `since`, newest first: the receive page's log, which a reload
    keeps (a technician who reloads mid-batch sees what is already in)."""
    return list(
        session.scalars(
            select(Sample)
            .where(Sample.received_by_id == actor.id, Sample.received_at >= since)
            .order_by(Sample.received_at.desc(), Sample.id.desc())
            .limit(limit)
        )
    )


def cancel(session: Session, actor: User, sample: Sample, reason: str) -> Sample:
    guard_sample(actor, sample, "cancel")
    _move_sample(
        session,
        actor,
        sample,
        "cancel",
        "cancelled",
        description=_note(sample, "cancelled", reason),
    )
    return sample


def reject(session: Session, actor: User, sample: Sample, reason: str) -> Sample:
    guard_sample(actor, sample, "reject")
    _move_sample(
        session, actor, sample, "reject", "rejected", description=_note(sample, "rejected", reason)
    )
    return sample


def certify_sample(session: Session, sample: Sample, user: User) -> Sample:
    """The state change behind a certificate: the certificate service calls this in its transaction."""
    guard_sample(user, sample, "certify")
    _move_sample(session, user, sample, "certify", "certified")
    return sample


def reopen(session: Session, actor: User, sample: Sample, reason: str) -> Sample:
    """A certified sample back to verified, for an amendment of its certificate (the certificate
    service withdraws the certificate first; call lims.certificates.amending.reopen)."""
    guard_sample(actor, sample, "reopen")
    before = audit.snapshot(sample)
    sample.state = "verified"
    after = audit.snapshot(sample) | {"reason": reason.strip()}
    audit.record(session, actor, "sample.reopen", "sample", sample.code, before, after)
    return sample


def invalidate(session: Session, actor: User, sample: Sample, reason: str) -> Sample:
    """The state change only: lims.certificates.amending.invalidate_sample also withdraws the
    sample's certificates (call that)."""
    guard_sample(actor, sample, "invalidate")
    _move_sample(
        session,
        actor,
        sample,
        "invalidate",
        "invalid",
        description=_note(sample, "invalidated", reason),
    )
    return sample


_SAY_WHY = {
    "cancelled": N_("say why the sample is cancelled"),
    "rejected": N_("say why the sample is rejected"),
    "invalidated": N_("say why the sample is invalidated"),
}


_NOTE_SEPARATOR = " | "


def _note(sample: Sample, what: str, reason: str) -> str:
    if not reason.strip():
        raise InputError("reason", _SAY_WHY[what])
    note = f"{what}: {reason.strip()}"
    # The column holds 400 characters: the newest note is kept whole, older text gives way.
    return ((f"{sample.description}{_NOTE_SEPARATOR}" if sample.description else "") + note)[-400:]


# Where the notes begin: the first part of the description (split at _NOTE_SEPARATOR) that
# starts with one; from there on all is the lab's. Python's re and PostgreSQL's regular
# expressions read it alike, so the pages and the customer's search hide the same text.
WORKFLOW_NOTES = (
    "(?:^|" + re.escape(_NOTE_SEPARATOR) + ")(?:" + "|".join(_SAY_WHY) + "): .*"
)
_WORKFLOW_NOTES = re.compile(WORKFLOW_NOTES, re.S)


def without_workflow_notes(description: str) -> str:
    """A sample's description without the notes _note appended to it: the lab's own reasons for
    cancelling, rejecting or invalidating it, which its customer does not read."""
    return _WORKFLOW_NOTES.sub("", description, count=1)


def description_without_notes() -> ColumnElement[str]:
    """without_workflow_notes(Sample.description) in SQL, for what a customer may search."""
    return func.regexp_replace(Sample.description, WORKFLOW_NOTES, "")


def _record_analysis(
    session: Session, actor: User, analysis: Analysis, action: str, before: dict | None
) -> None:
    after = audit.snapshot(analysis) | {
        "sample": analysis.sample.code,
        "method": analysis.method.key,
    }
    audit.record(session, actor, f"analysis.{action}", "analysis", analysis.id, before, after)


def analyst_named(session: Session, actor: User, username: str) -> User | None:
    """The colleague a result is attributed to, when not the one entering it: an active user
    whose role may enter results. The record says who measured (ISO/IEC 17025 7.5.1) and the
    four-eyes rule is drawn from it; an engineer, a customer or a closed account could not
    have. Only someone who may enter results asks: the answer tells the lab's active analysts
    from other names."""
    require(actor, Capability.HANDLE_SAMPLES)
    username = username.strip()
    if not username:
        return None
    analyst = session.scalar(select(User).where(User.username == username))
    if analyst is None or not can(analyst, Capability.HANDLE_SAMPLES):
        raise InputError("analyst", N_("%(name)s is not an active lab user who enters results", name=repr(username)))
    return analyst


def _lock_sample(session: Session, analysis: Analysis) -> None:
    """Whichever way in a result, its verification, retraction or retest comes, it queues on
    its sample row (the lock every change to a sample and its analyses takes; a no-op when the
    caller holds it), then reads the sample and the analysis as the previous holder left them:
    a result entered or retracted meanwhile is seen, not written over."""
    session.scalar(
        select(Sample)
        .where(Sample.id == analysis.sample_id)
        .with_for_update(of=Sample)
        .execution_options(populate_existing=True)
    )
    session.refresh(analysis)


def submit(
    session: Session,
    actor: User,
    analysis: Analysis,
    *,
    value: object,
    unit: str,
    uncertainty: object | None = None,
    uncertainty_reason: str = "",
    instrument: str = "",
    analyst: User | None = None,
    measured_at: datetime | None = None,
    provider: str = "",
    provider_report: str = "",
) -> Analysis:
    """Enter a result: unit checked, value rounded, spec evaluation computed (never entered).
    A result from an external provider names the provider (by key) and its report."""
    _lock_sample(session, analysis)
    guard_analysis(actor, analysis, "submit")
    instrument = instrument.strip()
    at_most("instrument", instrument, INSTRUMENT_MAX)
    sample = analysis.sample
    now = utcnow()
    check_measured_at(sample, measured_at, now)
    check_retest_not_by_excluder(analysis, actor, analyst or actor)
    measured = measure(analysis.method, value, unit, uncertainty, uncertainty_reason)
    external = external_provider(session, provider, provider_report)
    spec = load_spec(session, sample.material_id)
    evaluation = None
    if spec is not None and spec.counts(analysis.method.property, analysis.method.key):
        evaluation, _ = grading.evaluate(
            spec, analysis.method.property, as_result(analysis.method, measured)
        )
    before = audit.snapshot(analysis)
    analysis.value = measured.value
    analysis.below_detection_limit = measured.below_detection_limit
    analysis.uncertainty = measured.uncertainty
    analysis.uncertainty_reason = measured.uncertainty_reason
    analysis.entered_value = measured.entered_value
    analysis.entered_unit = measured.entered_unit
    analysis.unit = analysis.method.unit
    analysis.instrument = instrument
    analysis.external_provider = external
    analysis.external_report = provider_report.strip() if external else ""
    analysis.analyst_id = (analyst or actor).id
    analysis.measured_at = (measured_at or now).astimezone(UTC)
    analysis.evaluation = evaluation
    analysis.state = "submitted"
    analysis.submitted_by_id = actor.id
    analysis.submitted_at = now
    _record_analysis(session, actor, analysis, "submit", before)
    _settle(session, actor, sample)
    return analysis


def check_measured_at(sample: Sample, measured_at: datetime | None, now: datetime) -> None:
    """A result is measured between the sample's receipt and now: a time outside that is a
    typing error (a wrong year, day and month swapped) that would date the certificate's tests."""
    if measured_at is None:
        return
    if measured_at > now + CLOCK_SKEW:
        raise InputError("measured_at", N_("later than now: a result cannot have been measured in the future"))
    if sample.received_at is not None and measured_at < sample.received_at:
        raise InputError(
            "measured_at", N_("before %(code)s was received: a result is measured after receipt", code=sample.code)
        )


_ROLES_OF = {
    ("analyst",): N_("analyst"),
    ("submitter",): N_("submitter"),
    ("analyst", "submitter"): N_("analyst and submitter"),
}


def check_four_eyes(analysis: Analysis, verifier: User) -> None:
    """The four-eyes rule, for every way in (API, web, import, CLI): whoever measured the result
    (the analyst) and whoever entered it (the submitter) may not also verify it."""
    roles = [
        role
        for role, user_id in (("analyst", analysis.analyst_id), ("submitter", analysis.submitted_by_id))
        if user_id == verifier.id
    ]
    if roles:
        raise WorkflowError(
            N_(
                "analysis %(id)s: %(user)s is its %(roles)s; another user must verify it (four eyes)",
                id=analysis.id, user=verifier.username, roles=_ROLES_OF[tuple(roles)],
            )
        )


_RETEST_ROLES = {
    "requester": N_("requested its retest"),
    "analyst": N_("measured its retest"),
    "submitter": N_("entered its retest"),
}


def check_four_eyes_on_exclusion(oos: OosInvestigation, reviewer: User) -> None:
    """Leaving an investigated result off the certificate could be testing until it passes: who
    asked for the retest, or measured or entered it, may not also decide that the original does
    not count; a second reviewer does."""
    retest = oos.retest
    roles = [
        role
        for role, user_id in (
            ("requester", oos.opened_by_id), ("analyst", retest.analyst_id), ("submitter", retest.submitted_by_id)
        )
        if user_id == reviewer.id
    ]
    if roles:
        raise WorkflowError(
            N_(
                "analysis %(id)s: %(user)s %(did)s; another reviewer must decide whether it is excluded (four eyes)",
                id=oos.original_id, user=reviewer.username, did=_RETEST_ROLES[roles[0]],
            )
        )


def check_retest_not_by_excluder(retest: Analysis, submitter: User, analyst: User) -> None:
    """check_four_eyes_on_exclusion the other way round: the reviewer who left the original
    result off the certificate neither measures nor enters its retest."""
    oos = retest.retest_of.oos if retest.retest_of is not None else None
    if oos is None or oos.excluded_by_id is None or oos.retest_id != retest.id:
        return
    if oos.excluded_by_id in (submitter.id, analyst.id):
        excluder = submitter if oos.excluded_by_id == submitter.id else analyst
        raise WorkflowError(
            N_(
                "analysis %(id)s: %(user)s excluded the result it retests; another user must measure and enter it (four eyes)",
                id=retest.id, user=excluder.username,
            )
        )


def verify(session: Session, actor: User, analysis: Analysis) -> Analysis:
    _lock_sample(session, analysis)
    guard_analysis(actor, analysis, "verify")
    before = audit.snapshot(analysis)
    analysis.state = "verified"
    analysis.verified_by_id = actor.id
    analysis.verified_at = utcnow()
    _record_analysis(session, actor, analysis, "verify", before)
    _settle(session, actor, analysis.sample)
    return analysis


def retract(session: Session, actor: User, analysis: Analysis, reason: str) -> Analysis:
    """A reviewer refuses a submitted result; a new analysis for the same method is created."""
    _lock_sample(session, analysis)
    guard_analysis(actor, analysis, "retract")
    return _replace(session, actor, analysis, "retract", reason)


def retest(session: Session, actor: User, analysis: Analysis, reason: str) -> Analysis:
    """Measure again: the original (submitted or verified) is retracted and kept; returns the new analysis."""
    _lock_sample(session, analysis)
    guard_analysis(actor, analysis, "retest")
    return _replace(session, actor, analysis, "retest", reason)


_SAY_WHY_RESULT = {
    "retract": N_("say why the result is retracted"),
    "retest": N_("say why the result is retested"),
}


# A replaced result's stored reason starts with its action word (the record stays as written);
# pages say that word in their language.
_REPLACED_BECAUSE = {
    "retract": N_("retracted: %(reason)s"),
    "retest": N_("retest: %(reason)s"),
}


def replaced_because(analysis: Analysis) -> str:
    """Why a result was retracted or retested, as a message a page says in its language."""
    action, sep, reason = analysis.retract_reason.partition(": ")
    said = _REPLACED_BECAUSE.get(action) if sep else None
    return Text(said.template, reason=reason) if said else analysis.retract_reason


def _replace(
    session: Session, actor: User, analysis: Analysis, action: str, reason: str
) -> Analysis:
    sample = analysis.sample
    if not reason.strip():
        raise InputError("reason", _SAY_WHY_RESULT[action])
    before = audit.snapshot(analysis)
    was = analysis.state
    analysis.state = "retracted"
    analysis.retract_reason = f"{action}: {reason.strip()}"[:400]
    _record_analysis(session, actor, analysis, action, before)
    new = Analysis(method_id=analysis.method_id, method=analysis.method, retest_of_id=analysis.id)
    sample.analyses.append(new)
    session.flush()
    _record_analysis(session, actor, new, "create", None)
    if was == "verified" or _not_accepted(session, analysis):
        _open_oos(session, actor, analysis, new, was, reason)
    _settle(session, actor, sample)
    return new


def _not_accepted(session: Session, analysis: Analysis) -> bool:
    """Whether the result fails the specification's least strict limit under its decision rule:
    out of spec, or (guard band) within U of the limit ("warn"), which leaves the sample off-spec
    just the same."""
    if analysis.evaluation is None:
        return False
    spec = load_spec(session, analysis.sample.material_id)
    found = grading.envelope(spec, analysis.method.property) if spec is not None else None
    if spec is None or found is None:  # the specification changed since: as it was evaluated
        return analysis.evaluation == "out_of_spec"
    return not grading.check(analysis_result(analysis), found[1], spec.decision_rule).accepted


def _open_oos(
    session: Session, actor: User, original: Analysis, retest: Analysis, was: str, reason: str
) -> OosInvestigation:
    """Measuring again after a verified or out-of-spec result could be testing until it passes:
    an investigation record keeps the original, and the certificate lists it."""
    oos = OosInvestigation(
        original=original,
        retest_id=retest.id,
        original_state=was,
        original_evaluation=original.evaluation,
        reason=reason.strip()[:400],
        opened_by_id=actor.id,
        opened_at=utcnow(),
    )
    session.add(oos)
    session.flush()
    audit.record(
        session,
        actor,
        "analysis.oos_open",
        "analysis",
        original.id,
        None,
        audit.snapshot(oos) | {"sample": original.sample.code, "method": original.method.key},
    )
    return oos


def exclude_retest_history(
    session: Session, actor: User, original: Analysis, reason: str
) -> OosInvestigation:
    """A reviewer records why an investigated original result is left off the certificate."""
    require(actor, Capability.REVIEW_RESULTS, N_("exclude results from the retest history"))
    oos = original.oos
    if oos is None:
        raise WorkflowError(N_("analysis %(id)s has no out-of-specification investigation", id=original.id))
    if not reason.strip():
        raise InputError("reason", N_("say why the earlier result is excluded from the certificate"))
    check_four_eyes_on_exclusion(oos, actor)
    if original.sample.state not in _TESTING:
        raise WorkflowError(
            N_(
                "sample %(code)s is %(state)s; its history is settled",
                code=original.sample.code, state=state_word(original.sample.state),
            )
        )
    before = audit.snapshot(oos)
    oos.exclusion_reason = reason.strip()[:400]
    oos.excluded_by_id = actor.id
    audit.record(
        session, actor, "analysis.oos_exclude", "analysis", original.id, before, audit.snapshot(oos)
    )
    return oos


def _settle(session: Session, actor: User, sample: Sample) -> None:
    """Move the sample to the state its analyses imply; grade it when all are verified."""
    if sample.state not in _TESTING:
        return
    active = [a for a in sample.analyses if a.state != "retracted"]
    if not active or any(a.state == "unassigned" for a in active):
        target = "received"
    elif all(a.state == "verified" for a in active):
        target = "verified"
    else:
        target = "to_be_verified"
    if target == sample.state:
        return
    if target == "verified":
        outcome = _grade(session, sample, active)
        _move_sample(
            session,
            actor,
            sample,
            "verified",
            target,
            grade=outcome.grade,
            grade_reasons=outcome.reasons,
            graded_at=utcnow(),
        )
    else:
        _move_sample(
            session, actor, sample, target, target, grade=None, grade_reasons=None, graded_at=None
        )


def regrade(session: Session, actor: User | None, sample: Sample) -> bool:
    """Grade a verified (or certified) sample again under its material's specification as it
    is now; True when its grade or reasons changed (audited as sample.regrade). A certificate
    prints the limits in force when it is issued, so the grade beside them must be theirs:
    issuing calls this, and so does a change of the specification for the samples it finds
    verified."""
    if sample.state not in ("verified", "certified"):
        return False
    outcome = _grade(session, sample, [a for a in sample.analyses if a.state != "retracted"])
    if (outcome.grade, outcome.reasons) == (sample.grade, sample.grade_reasons):
        return False
    _move_sample(
        session, actor, sample, "regrade", sample.state,
        grade=outcome.grade, grade_reasons=outcome.reasons, graded_at=utcnow(),
    )
    return True


def regrade_verified(session: Session, material_id: int) -> int:
    """After the material's grade specification changed: its verified samples graded again
    (the certified ones keep the grade their certificate states, until it is amended). Returns
    how many changed."""
    samples = session.scalars(
        select(Sample)
        .where(Sample.material_id == material_id, Sample.state == "verified")
        .order_by(Sample.id)
        .with_for_update(of=Sample)
    ).all()
    return sum(regrade(session, None, sample) for sample in samples)


def _grade(session: Session, sample: Sample, analyses: list[Analysis]) -> grading.GradeOutcome:
    spec = load_spec(session, sample.material_id)
    if spec is None:
        return grading.GradeOutcome(
            grading.UNGRADED, {"_": f"no grade specification for {sample.material.key}"}
        )
    return grading.grade_sample(spec, _results(_counted(spec, analyses)))


def _counted(spec: grading.Spec, analyses: list[Analysis]) -> dict[str, Analysis]:
    """Property -> the analysis whose result the specification grades it by."""
    return {a.method.property: a for a in analyses if spec.counts(a.method.property, a.method.key)}


def _results(counted: dict[str, Analysis]) -> dict[str, grading.Result]:
    return {prop: analysis_result(a) for prop, a in counted.items()}


def reaches(session: Session, analyses: list[Analysis]) -> dict[int, grading.Reach]:
    """Analysis id -> what its result means for its sample's grade (grading.reach), for the
    submitted results the specification grades; pages show it instead of the envelope's flag."""
    specs: dict[int, grading.Spec | None] = {}
    found = {}
    for a in analyses:
        material = a.sample.material_id
        if material not in specs:
            specs[material] = load_spec(session, material)
        spec = specs[material]
        if a.value is None or spec is None or not spec.counts(a.method.property, a.method.key):
            continue
        reach = grading.reach(spec, a.method.property, analysis_result(a))
        if reach is not None:
            found[a.id] = reach
    return found


def held_back_by(session: Session, sample: Sample) -> tuple[str | None, list[Analysis]]:
    """The grade a graded sample missed and the results that failed it (grading.held_back_by):
    what a reviewer looks at before certifying, and a technician before asking a retest."""
    if sample.grade is None:
        return None, []
    spec = load_spec(session, sample.material_id)
    if spec is None:
        return None, []
    counted = _counted(spec, [a for a in sample.analyses if a.state != "retracted"])
    better, failing = grading.held_back_by(spec, _results(counted), sample.grade)
    return better, [counted[prop] for prop in failing if prop in counted]
