"""Sharing a certificate with another organization (a buyer) and taking the share back."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.audit import service as audit
from lims.kernel.errors import N_, InputError, NotFound
from lims.kernel.models import Organization, User
from lims.kernel.models.certificate import Certificate, CertificateGrant
from lims.permissions import Capability, require


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


def shared_with(actor: User, cert: Certificate) -> list[CertificateGrant]:
    """The organizations a certificate is shared with, for the lab only: a buyer must not learn
    of another buyer, nor read the owner's business partners off its certificate."""
    require(actor, Capability.ISSUE_CERTIFICATES, N_("see who a certificate is shared with"))
    return list(cert.grants)


def grant(
    session: Session, actor: User, cert: Certificate, organization_key: str
) -> CertificateGrant:
    """Share a certificate with another organization (a buyer); idempotent. A share follows
    the certificate's revisions: those issued later carry it (issuing.revise), and those issued
    already get it now, so the buyer of a superseded certificate reads the revision it is sent to."""
    require(actor, Capability.SHARE_CERTIFICATES)
    org = session.scalar(select(Organization).where(Organization.key == organization_key))
    if org is None:
        raise InputError("organization", N_("unknown organization %(key)s", key=repr(organization_key)))
    if org.id == cert.owner_org_id:
        raise InputError("organization", N_("%(key)s owns this certificate already", key=org.key))
    shared = add_grant(session, actor, cert, org)
    for later in _later_revisions(cert):
        add_grant(session, actor, later, org)
    return shared


def _later_revisions(cert: Certificate) -> list[Certificate]:
    """The revisions that replaced the certificate, oldest first."""
    found: list[Certificate] = []
    later, seen = cert.superseded_by, {cert.id}
    while later is not None and later.id not in seen:
        found.append(later)
        seen.add(later.id)
        later = later.superseded_by
    return found


def revoke_grant(session: Session, actor: User, cert: Certificate, organization_key: str) -> None:
    """Take a share back, from the certificate and the revisions that replaced it, as grant()
    gave it to them: the buyer is not left reading the revision in force. Those it replaced
    stay shared (a share given to a revision never reached them either)."""
    require(actor, Capability.SHARE_CERTIFICATES)
    if _grant_of(cert, organization_key) is None:
        raise NotFound(N_("certificate %(number)s is not shared with %(key)s", number=cert.number, key=repr(organization_key)))
    for shared in (cert, *_later_revisions(cert)):
        found = _grant_of(shared, organization_key)
        if found is None:
            continue
        session.delete(found)
        audit.record(
            session,
            actor,
            "certificate.revoke_grant",
            "certificate",
            shared.number,
            {"certificate": shared.number, "organization": organization_key},
            None,
        )


def _grant_of(cert: Certificate, organization_key: str) -> CertificateGrant | None:
    return next((g for g in cert.grants if g.organization.key == organization_key), None)

