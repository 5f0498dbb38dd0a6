"""Who may do what, in one place.

Roles grant capabilities (ROLE_CAPABILITIES); services, API and pages ask for a capability,
never for a list of roles, so adding a role or moving a right is one edit here.

Who may see what: a customer sees only its own organization's lots, samples and results.
Every query for those objects goes through the scope/get functions below. A foreign object is
reported as not found, never as forbidden (that would confirm it exists).

What a customer sees of its own: like a client of a mature LIMS, a result once a reviewer has
released it (verified, four eyes), never one entered but not verified, retracted, or of a sample
whose results were invalidated; and none of the lab's records of how it worked (who measured or
verified, why a result was retracted, where a sample is stored). Every API answer asks
reads_lab_records, result_released and grade_released (lims.web.schemas.ReaderSchema); lab staff
read everything.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from lims.kernel.errors import N_, Forbidden, InputError, NotFound, Text, either
from lims.kernel.models import Analysis, Lot, Organization, Sample, User
from lims.kernel.models.user import PASSWORD_COMMON, PASSWORD_SET_BY_ADMIN


class Capability(StrEnum):
    """What a role may do; the value reads as the end of "may not ..." in an error. Written as
    N_ so the catalogue has each wording: a page says it in the reader's language."""

    CREATE_LOTS = N_("create lots")
    FIND_LOTS = N_("find and read lots")
    REGISTER_SAMPLES = N_("register and move samples")
    HANDLE_SAMPLES = N_("receive samples and enter results")
    REVIEW_RESULTS = N_("verify results and certify samples")
    ISSUE_CERTIFICATES = N_("issue certificates")
    SHARE_CERTIFICATES = N_("share certificates")
    READ_CERTIFICATES = N_("read certificates")
    READ_PROCESS_DATA = N_("read process data")
    ANSWER_ALARMS = N_("acknowledge or shelve process alarms")
    REQUEST_PREDICTIONS = N_("request grade predictions")
    SEE_MODELS = N_("see grade models")
    READ_AUDIT = N_("read the audit trail")
    ADMINISTER = N_("administer users and organizations")


_STAFF = {
    Capability.READ_PROCESS_DATA,
    Capability.ANSWER_ALARMS,
    Capability.REQUEST_PREDICTIONS,
    Capability.READ_AUDIT,
    Capability.CREATE_LOTS,
    Capability.FIND_LOTS,
}
_LAB = _STAFF | {
    Capability.REGISTER_SAMPLES,
    Capability.HANDLE_SAMPLES,
    Capability.READ_CERTIFICATES,
}
_REVIEW = _LAB | {
    Capability.REVIEW_RESULTS,
    Capability.ISSUE_CERTIFICATES,
    Capability.SEE_MODELS,
}

ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    "technician": frozenset(_LAB),
    "reviewer": frozenset(_REVIEW),
    "admin": frozenset(_REVIEW | {Capability.SHARE_CERTIFICATES, Capability.ADMINISTER}),
    "engineer": frozenset(_STAFF | {Capability.SEE_MODELS}),
    "customer": frozenset({Capability.READ_CERTIFICATES}),
}


# The role a new account is offered (the administration page's form): the least privileged of
# the lab's roles that do its work. Any more right is given by choosing it, never by leaving it.
NEW_USER_ROLE = "technician"


def can(user: User | None, capability: Capability) -> bool:
    """A closed account may do nothing, by whatever way in it is named (a login and a token
    stop working; a CLI acting as a user by name must be refused as well)."""
    return (
        user is not None
        and user.active
        and capability in ROLE_CAPABILITIES.get(user.role, frozenset())
    )


def roles_with(capability: Capability) -> tuple[str, ...]:
    return tuple(role for role, caps in ROLE_CAPABILITIES.items() if capability in caps)


def require(user: User, capability: Capability, doing: Text | None = None) -> None:
    """Raises Forbidden (403) unless the user's role grants the capability. `doing`: what the
    caller was about to do, as N_("..."), when the capability's own wording says it less well."""
    if not user.active:
        raise Forbidden(N_("the account %(name)s is deactivated", name=repr(user.username)))
    if not can(user, capability):
        raise Forbidden(
            N_(
                "role %(role)s may not %(doing)s (needs %(roles)s)",
                role=repr(user.role),
                # The enum keeps a plain str: as a Text its wording is looked up in the catalogue.
                doing=doing or Text(capability.value),
                roles=either(roles_with(capability)),
            )
        )


class PasswordChangeRequired(InputError):
    """The account must choose a new password first: the one it has was set by an
    administrator, who therefore knows it, or is one of the common ones attackers try first.
    The message tells which."""

    status = 403

    def __init__(self, reason: str | None = PASSWORD_SET_BY_ADMIN) -> None:
        if reason == PASSWORD_COMMON:
            message = N_(
                "this password is one of those attackers try first (it is on leaked password lists)"
                " and must be changed first: choose another on the web page's login or with POST"
                " auth/password")
        else:
            message = N_(
                "this password was set by an administrator and must be changed first: choose your"
                " own on the web page's login or with POST auth/password")
        super().__init__("password", message)


def require_own_password(user: User) -> None:
    """Until its owner chose a password, the account does nothing but choose one (the API
    refuses; the pages send the user to the password form)."""
    if user.must_change_password:
        raise PasswordChangeRequired(user.password_change_reason)


def reads_lab_records(user: User | None) -> bool:
    """Who entered, verified or retracted what and why, storage: the lab's staff, not customers
    (nor anyone unknown)."""
    return user is not None and not user.is_customer


# An analysis a customer does not even see listed: its result was replaced by another.
_HIDDEN_FROM_CUSTOMERS = ("retracted",)
# A sample whose results were withdrawn after release (its certificates say "results invalidated").
_RESULTS_WITHDRAWN = ("invalid",)


def grade_released(sample: Sample) -> bool:
    """Whether a customer may read the sample's grade (set only once all its results are verified)."""
    return sample.state not in _RESULTS_WITHDRAWN


def result_released(analysis: Analysis) -> bool:
    """Whether a customer may read this result: verified, and not withdrawn since."""
    return analysis.state == "verified" and grade_released(analysis.sample)


def shown_analyses(user: User | None, analyses: list[Analysis]) -> list[Analysis]:
    """The analyses of a sample the user sees listed (scope_analyses in Python)."""
    if reads_lab_records(user):
        return analyses
    return [a for a in analyses if a.state not in _HIDDEN_FROM_CUSTOMERS]


def scope_organizations(stmt: Select, user: User) -> Select:
    """A customer knows its own organization only; the lab knows them all."""
    return stmt.where(Organization.id == user.organization_id) if user.is_customer else stmt


def scope_lots(stmt: Select, user: User) -> Select:
    return stmt.where(Lot.owner_org_id == user.organization_id) if user.is_customer else stmt


def scope_samples(stmt: Select, user: User) -> Select:
    return stmt.where(Sample.owner_org_id == user.organization_id) if user.is_customer else stmt


def scope_analyses(stmt: Select, user: User) -> Select:
    if not user.is_customer:
        return stmt
    return stmt.join(Sample, Sample.id == Analysis.sample_id).where(
        Sample.owner_org_id == user.organization_id, Analysis.state.not_in(_HIDDEN_FROM_CUSTOMERS)
    )


def get_lot(session: Session, user: User, lot_id: int) -> Lot:
    lot = session.scalar(scope_lots(select(Lot).where(Lot.id == lot_id), user))
    if lot is None:
        raise NotFound(N_("lot %(id)s not found", id=lot_id))
    return lot


def get_sample(
    session: Session, user: User, code: str, *, for_update: bool = False, options: tuple = ()
) -> Sample:
    stmt = scope_samples(select(Sample).where(Sample.code == code).options(*options), user)
    if for_update:
        # Changes to a sample and its analyses queue on the sample row; read what the
        # previous holder of the lock committed, not what this session saw before.
        stmt = stmt.with_for_update(of=Sample).execution_options(populate_existing=True)
    sample = session.scalar(stmt)
    if sample is None:
        raise NotFound(N_("sample %(code)s not found", code=code))
    return sample


def in_lock_order(session: Session, analysis_ids: list[int]) -> list[int]:
    """The analyses in the order their samples are to be locked (by sample id): two requests
    that each change several samples, in whatever order they were asked, then never hold one
    sample each while waiting for the other's (a deadlock PostgreSQL ends by failing one)."""
    samples = dict(session.execute(
        select(Analysis.id, Analysis.sample_id).where(Analysis.id.in_(analysis_ids))).tuples().all())
    return sorted(analysis_ids, key=lambda a: (samples.get(a, 0), a))


def get_analysis(session: Session, user: User, analysis_id: int, *, for_update: bool = False) -> Analysis:
    """With for_update, its sample is locked first (the order every change takes, so no
    deadlock) and the sample's analyses are read after the lock."""
    if not for_update:
        analysis = session.scalar(scope_analyses(select(Analysis).where(Analysis.id == analysis_id), user))
        if analysis is None:
            raise NotFound(N_("analysis %(id)s not found", id=analysis_id))
        return analysis
    sample_id = session.scalar(
        scope_analyses(select(Analysis.sample_id).where(Analysis.id == analysis_id), user)
    )
    if sample_id is None:
        raise NotFound(N_("analysis %(id)s not found", id=analysis_id))
    sample = session.scalar(
        select(Sample)
        .where(Sample.id == sample_id)
        .options(selectinload(Sample.analyses))
        .with_for_update(of=Sample)
        .execution_options(populate_existing=True)
    )
    if sample is None:
        raise NotFound(N_("analysis %(id)s not found", id=analysis_id))
    for analysis in sample.analyses:
        # The loaded collection does not fill in the reverse side; without it the sample
        # (only weakly held by the session) would be read again.
        set_committed_value(analysis, "sample", sample)
    return next(a for a in sample.analyses if a.id == analysis_id)
