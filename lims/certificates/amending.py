"""Withdrawing certificates (ISO/IEC 17025 7.8.8) and sharing them with other organizations."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.audit import service as audit
from lims.certificates.content import audit_view
from lims.kernel.clock import utcnow
from lims.kernel.errors import InputError, NotFound
from lims.kernel.models import Organization, Sample, User
from lims.kernel.models.certificate import Certificate, CertificateGrant, certificate_sample
from lims.permissions import require_role
from lims.samples import workflow

GRANTORS = ("admin",)


def invalidate_sample(session: Session, actor: User, sample: Sample, reason: str) -> Sample:
    """7.8.8: invalidating a certified sample withdraws the certificates that cover it."""
    workflow.invalidate(session, actor, sample, reason)
    withdraw_for_sample(session, actor, sample, reason)
    return sample


def withdraw_for_sample(
    session: Session, actor: User | None, sample: Sample, reason: str
) -> list[Certificate]:
    """The valid certificates covering an invalidated sample, withdrawn."""
    certs = session.scalars(
        select(Certificate)
        .join(certificate_sample, certificate_sample.c.certificate_id == Certificate.id)
        .where(certificate_sample.c.sample_id == sample.id, Certificate.status == "valid")
        .with_for_update(of=Certificate)
    ).all()
    for cert in certs:
        before = audit_view(cert)
        cert.status = "withdrawn"
        cert.withdrawn_at = utcnow()
        cert.withdrawn_reason = f"sample {sample.code} invalidated: {reason.strip()}"[:400]
        cert.withdrawn_by_id = actor.id if actor else None
        audit.record(
            session,
            actor,
            "certificate.withdraw",
            "certificate",
            cert.number,
            before,
            audit_view(cert),
        )
    return certs


def add_grant(session: Session, actor: User, cert: Certificate, org: Organization) -> CertificateGrant:
    existing = next((g for g in cert.grants if g.organization_id == org.id), None)
    if existing is not None:
        return existing
    grant = CertificateGrant(certificate=cert, organization=org, granted_by_id=actor.id)
    session.add(grant)
    session.flush()
    audit.record(
        session,
        actor,
        "certificate.grant",
        "certificate",
        cert.number,
        None,
        {"certificate": cert.number, "organization": org.key, "grant_id": grant.id},
    )
    return grant


def grant(
    session: Session, actor: User, cert: Certificate, organization_key: str
) -> CertificateGrant:
    """Share a certificate with another organization (a buyer); idempotent."""
    require_role(actor, GRANTORS, "share certificates")
    org = session.scalar(select(Organization).where(Organization.key == organization_key))
    if org is None:
        raise InputError("organization", f"unknown organization {organization_key!r}")
    if org.id == cert.owner_org_id:
        raise InputError("organization", f"{org.key} owns this certificate already")
    return add_grant(session, actor, cert, org)


def revoke_grant(session: Session, actor: User, cert: Certificate, organization_key: str) -> None:
    require_role(actor, GRANTORS, "share certificates")
    found = next((g for g in cert.grants if g.organization.key == organization_key), None)
    if found is None:
        raise NotFound(f"certificate {cert.number} is not shared with {organization_key!r}")
    session.delete(found)
    audit.record(
        session,
        actor,
        "certificate.revoke_grant",
        "certificate",
        cert.number,
        {"certificate": cert.number, "organization": organization_key},
        None,
    )

