"""Amendments (ISO/IEC 17025 7.8.8): withdrawing, reopening and amending certificates."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.audit import service as audit
from lims.certificates import issuing
from lims.certificates.content import AMENDMENT_PENDING, audit_view
from lims.kernel.clock import utcnow
from lims.kernel.errors import N_, InputError, Text, WorkflowError
from lims.kernel.models import Sample, User
from lims.kernel.models.certificate import Certificate, certificate_sample
from lims.permissions import Capability, require
from lims.samples import workflow
from lims.samples.registration import at_most


def invalidate_sample(session: Session, actor: User, sample: Sample, reason: str) -> Sample:
    """7.8.8: invalidating a certified sample withdraws the certificates that cover it."""
    workflow.invalidate(session, actor, sample, reason)
    withdraw_for_sample(session, actor, sample, reason)
    return sample


def withdraw_for_sample(
    session: Session, actor: User | None, sample: Sample, reason: str
) -> Sequence[Certificate]:
    """The valid certificates covering an invalidated sample, withdrawn."""
    certs = session.scalars(
        select(Certificate)
        .join(certificate_sample, certificate_sample.c.certificate_id == Certificate.id)
        .where(certificate_sample.c.sample_id == sample.id, Certificate.status == "valid")
        .with_for_update(of=Certificate)
    ).all()
    for cert in certs:
        _withdraw(session, actor, cert, f"sample {sample.code} invalidated: {reason.strip()}")
    return certs


def _withdraw(session: Session, actor: User | None, cert: Certificate, why: str) -> None:
    before = audit_view(cert)
    cert.status = "withdrawn"
    # Never before the issue, even if this process's clock is behind the one that issued it.
    cert.withdrawn_at = max(utcnow(), cert.issued_at)
    cert.withdrawn_reason = why[:400]
    cert.withdrawn_by_id = actor.id if actor else None
    audit.record(
        session, actor, "certificate.withdraw", "certificate", cert.number, before, audit_view(cert)
    )


# The reason is printed on the revision and kept with the withdrawn certificate after its
# "amended: " (a column of 400 characters); AmendSchema holds the API to the same.
REASON_MAX = 380


def _reason(reason: str) -> str:
    if not (reason or "").strip():
        raise InputError("reason", N_("say why the certificate is amended"))
    at_most("reason", reason.strip(), REASON_MAX)
    return reason.strip()


_NOT_VALID = {
    "amend": N_("cannot amend %(number)s: it is %(status)s"),
    "reopen": N_("cannot reopen %(number)s: it is %(status)s"),
}


def _lock_samples(session: Session, cert: Certificate) -> None:
    """The certificate's samples (a lot certificate's: every sample of its lot, as issuing its
    revision takes them), in id order, before the certificate itself: the order invalidating a
    sample takes (the sample, then the certificates covering it). Taken the other way round, an
    amendment and an invalidation of its sample would each hold what the other waits for."""
    covered = Sample.lot_id == cert.lot_id if cert.kind == "lot" else Sample.id.in_(
        select(certificate_sample.c.sample_id).where(certificate_sample.c.certificate_id == cert.id)
    )
    session.execute(select(Sample.id).where(covered).order_by(Sample.id).with_for_update())
    # What the previous holder of the locks committed (a withdrawal, a revision).
    session.refresh(cert)


def _lock_valid(session: Session, cert: Certificate, doing: str) -> None:
    session.execute(select(Certificate.id).where(Certificate.id == cert.id).with_for_update())
    session.refresh(cert)
    if cert.status != "valid":
        raise WorkflowError(Text(_NOT_VALID[doing], number=cert.number, status=Text(cert.status)))


def amend(
    session: Session,
    issuer: issuing.Issuer,
    actor: User,
    cert: Certificate,
    reason: str,
    *,
    deviations: list[str] | None = None,
) -> Certificate:
    """7.8.8: a new revision (-R<n>) of the same item with the reason; the old certificate is
    withdrawn and points to it (superseded). A valid certificate is withdrawn here; one withdrawn
    by reopen() is replaced once its samples are verified again."""
    require(actor, Capability.ISSUE_CERTIFICATES, N_("amend certificates"))
    why = _reason(reason)
    _lock_samples(session, cert)
    if cert.status == "valid":
        _lock_valid(session, cert, "amend")
        _withdraw(session, actor, cert, f"amended: {why}")
    return issuing.revise(session, issuer, actor, cert, why, deviations=deviations)


def reopen(session: Session, actor: User, cert: Certificate, reason: str) -> Certificate:
    """A certificate whose results must be corrected: withdrawn, and its samples back to
    "verified" so their results can be retested (which opens OOS investigations); amend() then
    issues the corrected revision. The samples are never left "invalid" for a correction."""
    require(actor, Capability.ISSUE_CERTIFICATES, N_("amend certificates"))
    why = _reason(reason)
    _lock_samples(session, cert)
    _lock_valid(session, cert, "reopen")
    _withdraw(session, actor, cert, AMENDMENT_PENDING + why)
    for sample in cert.samples:
        if sample.state == "certified":
            workflow.reopen(session, actor, sample, why)
    return cert
