"""Certificates of analysis (ISO/IEC 17025:2017 7.8): issue, withdraw, revise, share, find, verify.

A certificate is issued by a reviewer for a verified sample, or for a lot from its verified
samples. Its content (every 7.8.2.1 item) is built once, canonicalised (RFC 8785), hashed and
signed with the lab's Ed25519 key, and stored byte for byte; the PDF and the JSON file are both
drawn from that stored content, so they can never disagree.

Amendments (7.8.8): invalidating a certified sample withdraws every valid certificate that
covers it. The corrected certificate is a new revision (same series, new number with an -R<n>
suffix) that names the one it replaces, which then reads "superseded"; both stay retrievable.

Visibility: lab staff see every certificate; a customer sees those of its own organization and
those granted to it. Anything else is "not found" (never "forbidden": no existence leak).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from lims.audit import service as audit
from lims.certificates import document, render_pdf, signing
from lims.kernel.clock import utcnow
from lims.kernel.errors import InputError, NotFound, WorkflowError
from lims.kernel.models import Analysis, Lot, Material, Organization, ProgrammeLine, Sample, User
from lims.kernel.models.certificate import Certificate, CertificateGrant, certificate_sample
from lims.kernel.settings import Settings
from lims.permissions import require_role
from lims.samples import grading, workflow
from lims.samples.registration import format_code, next_numbers
from lims.samples.results import load_spec

SCHEMA = "recyclab-coa/1"
TITLE = "Certificate of Analysis"
ISSUERS = workflow.REVIEWERS
GRANTORS = ("admin",)
REMARK = "The results relate only to the items tested."
END = "End of certificate"
DEFAULT_CONDITION = "No anomalies recorded at receipt."
DECISION_RULE_TEXT = {
    "simple": (
        "simple acceptance (ILAC-G8:09/2019, shared risk): a result conforms when the measured "
        "value lies within the limit; the measurement uncertainty is not deducted."
    ),
    "guard_band": (
        "guarded acceptance (ILAC-G8:09/2019, guard band w = U): a result conforms only when the "
        "measured value lies inside the limit by at least its expanded uncertainty U."
    ),
}
ROLE_TITLES = {"reviewer": "Reviewer (senior technician)", "admin": "Laboratory administrator"}


@dataclass(frozen=True)
class Issuer:
    """What signing needs from the settings: the key and the lab's time zone for dates."""

    private_key: Ed25519PrivateKey
    key_id: str
    timezone: ZoneInfo
    lab_name: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Issuer:
        key = signing.signing_key(settings)
        return cls(
            key, signing.key_id(key.public_key()), ZoneInfo(settings.timezone), settings.lab_name
        )


# --- content ---------------------------------------------------------------------------------


def _num(value: Decimal | None, decimals: int | None = None) -> str | None:
    """A Decimal as plain text: rounded to the method's decimals, else without trailing zeros."""
    if value is None:
        return None
    if decimals is not None:
        return format(value.quantize(Decimal(1).scaleb(-decimals)), "f")
    return format(value.normalize(), "f")


def _day(moment: datetime | None, tz: ZoneInfo) -> str | None:
    return moment.astimezone(tz).date().isoformat() if moment else None


def _span(moments: list[datetime], tz: ZoneInfo) -> tuple[str | None, str | None]:
    days = sorted(d for d in (_day(m, tz) for m in moments) if d)
    return (days[0], days[-1]) if days else (None, None)


def _limit_dict(grade: str, limit: grading.Limit) -> dict[str, str | None]:
    return {"grade": grade, "min": _num(limit.min), "max": _num(limit.max)}


def _reported(samples: list[Sample]) -> list[tuple[Sample, Analysis]]:
    """The results a certificate reports: the verified analyses (a retest's retracted original
    is not reported), sample by sample."""
    return [(s, a) for s in samples for a in s.analyses if a.state == "verified"]


def _worst_grade(spec: grading.Spec | None, grades: list[str | None]) -> str:
    if spec is None:
        return "ungraded"
    order = [g.name for g in spec.grades] + [grading.OFF_SPEC]
    known = [g for g in grades if g in order]
    return max(known, key=order.index) if known else grading.OFF_SPEC


def _conformity(
    spec: grading.Spec | None, grade: str, material_code: str, lab: str
) -> dict[str, Any]:
    name = f"{lab} grade specification for {material_code}"
    if spec is None:
        return {
            "specification": "none",
            "decision_rule": None,
            "decision_rule_text": "not applicable",
            "grade": "ungraded",
            "statement": f"No grade specification applies to {material_code}; "
            "no statement of conformity is made.",
        }
    rule = spec.decision_rule
    if grade == grading.OFF_SPEC:
        statement = (
            f"The item does not conform to any grade of the {name}: the results marked 'out' "
            "fail the limits of its least strict grade under the decision rule."
        )
    else:
        statement = (
            f"The item conforms to grade {grade} of the {name}: every result limited by grade "
            f"{grade} meets its limit under the decision rule."
        )
    return {
        "specification": name,
        "decision_rule": rule,
        "decision_rule_text": DECISION_RULE_TEXT[rule],
        "grade": grade,
        "statement": statement,
    }


def _result_entry(
    sample: Sample, analysis: Analysis, spec: grading.Spec | None, grade: str, tz: ZoneInfo
) -> dict[str, Any]:
    method = analysis.method
    found: tuple[str, grading.Limit] | None = None
    if spec is not None:
        awarded = next((g for g in spec.grades if g.name == grade), None)
        if awarded is not None and method.property in awarded.limits:
            found = (grade, awarded.limits[method.property])
        elif awarded is None:
            found = grading.envelope(spec, method.property)
    conformity, evaluation = "n/a", None
    if found is not None:
        check = grading.check(
            grading.Result(
                analysis.value,
                analysis.unit or "",
                analysis.uncertainty,
                analysis.below_detection_limit,
            ),
            found[1],
            spec.decision_rule,
        )
        conformity, evaluation = ("in" if check.accepted else "out"), check.evaluation
    return {
        "sample": sample.code,
        "property": method.property,
        "property_name": method.name,
        "method": {
            "key": method.key,
            "name": method.name,
            "standard": method.standard,
            "conditions": method.conditions,
        },
        "value": _num(analysis.value, method.decimals),
        "below_detection_limit": analysis.below_detection_limit,
        "unit": analysis.unit or method.unit,
        "uncertainty": _num(analysis.uncertainty, method.decimals),
        "coverage_factor": 2,
        "measured_on": _day(analysis.measured_at, tz),
        "limit": _limit_dict(*found) if found else None,
        "evaluation": evaluation,
        "conformity": conformity,
    }


def build_content(
    *,
    kind: str,
    number: str,
    revision: int,
    issued_at: datetime,
    lab: Organization | None,
    lab_name: str,
    owner: Organization,
    samples: list[Sample],
    lot: Lot | None,
    spec: grading.Spec | None,
    grade: str,
    authorised_by: User,
    tz: ZoneInfo,
    condition: str,
    deviations: list[str],
    replaces: Certificate | None,
    description: str,
) -> dict[str, Any]:
    """Every item of ISO/IEC 17025:2017 7.8.2.1 (and 7.8.6, 7.8.8) as plain JSON values."""
    material = samples[0].material
    reported = _reported(samples)
    test_start, test_end = _span([a.measured_at for _, a in reported if a.measured_at], tz)
    sampled_from, sampled_to = _span([s.registered_at for s in samples], tz)
    received_from, received_to = _span([s.received_at for s in samples if s.received_at], tz)

    def span_text(a: str | None, b: str | None) -> str:
        return "not recorded" if a is None else a if a == b else f"{a} to {b}"

    return {
        "schema": SCHEMA,
        "title": TITLE,
        "number": number,
        "revision": revision,
        "replaces": None
        if replaces is None
        else {
            "number": replaces.number,
            "withdrawn_at": audit.plain(replaces.withdrawn_at),
            "reason": replaces.withdrawn_reason,
        },
        "issued_at": issued_at.isoformat().replace("+00:00", "Z"),
        "laboratory": {
            "name": lab.name if lab else lab_name,
            "address": lab.address if lab else "",
            # 7.8.2.1 c): every method runs in the lab itself, none at a customer's site.
            "place_of_testing": "The laboratory's permanent facilities"
            + (f", {lab.address}" if lab and lab.address else ""),
        },
        "customer": {"name": owner.name, "address": owner.address},
        "item": {
            "kind": kind,
            "description": description,
            "material": {"key": material.key, "code": material.code, "name": material.name},
            "line": material.line.name,
            "samples": [{"code": s.code, "description": s.description} for s in samples],
            "lot": None
            if lot is None
            else {
                "code": lot.code,
                "installation": lot.installation.name,
                "production_start": lot.production_start.strftime("%Y-%m-%d %H:%M"),
                "production_end": lot.production_end.strftime("%Y-%m-%d %H:%M"),
            },
            "input_stream": lot.input_stream if lot else None,
            "source": lot.source if lot and lot.source else None,
            "recycled_content_pct": _num(lot.recycled_content_pct) if lot else None,
            "condition": condition,
        },
        "dates": {
            "sampling": span_text(sampled_from, sampled_to),
            "receipt": span_text(received_from, received_to),
            "testing_start": test_start or "not recorded",
            "testing_end": test_end or "not recorded",
            "issue": _day(issued_at, tz),
        },
        "results": [_result_entry(s, a, spec, grade, tz) for s, a in reported],
        "conformity": _conformity(spec, grade, material.code, lab.name if lab else lab_name),
        "remark": REMARK,
        "deviations": deviations,
        "authorised_by": {
            "name": authorised_by.full_name or authorised_by.username,
            "role": ROLE_TITLES.get(authorised_by.role, authorised_by.role),
        },
        "end": END,
    }


# --- issuing ---------------------------------------------------------------------------------


def _lab(session: Session) -> Organization | None:
    return session.scalar(
        select(Organization).where(Organization.kind == "lab").order_by(Organization.id)
    )


def _lock_sample(session: Session, sample: Sample) -> None:
    """Lock the sample and read it afresh with what the certificate shows (one round trip for the
    row and its lot): of two reviewers certifying it at once, the second waits, then sees
    "certified"."""
    session.scalars(
        select(Sample)
        .where(Sample.id == sample.id)
        .options(joinedload(Sample.lot), selectinload(Sample.analyses))
        .with_for_update(of=Sample)
        .execution_options(populate_existing=True)
    ).one()


def _check_replaces(
    session: Session, old: Certificate, owner_id: int, material_id: int, lot: Lot | None
) -> None:
    session.execute(select(Certificate.id).where(Certificate.id == old.id).with_for_update())
    session.refresh(old)
    if old.status == "valid":
        raise WorkflowError(
            f"certificate {old.number} is still valid; invalidate its sample first (that withdraws it)"
        )
    if old.status == "superseded":
        raise WorkflowError(
            f"certificate {old.number} was already replaced by {old.superseded_by.number}"
        )
    if old.owner_org_id != owner_id or old.material_id != material_id:
        raise InputError("replaces", f"{old.number} is for another customer or material")
    if old.lot_id is not None and (lot is None or lot.id != old.lot_id):
        raise InputError(
            "replaces", f"{old.number} is for lot {old.lot.code}; the new item must be of that lot"
        )


def _clean_texts(values: list[str] | None, field: str) -> list[str]:
    out = [v.strip() for v in values or [] if v and v.strip()]
    if any(len(v) > 1000 for v in out):
        raise InputError(field, "each entry must be at most 1000 characters")
    return out


def _issue(
    session: Session,
    issuer: Issuer,
    actor: User,
    *,
    kind: str,
    samples: list[Sample],
    lot: Lot | None,
    description: str,
    condition: str | None,
    deviations: list[str] | None,
    replaces: str | None,
) -> Certificate:
    deviations = _clean_texts(deviations, "deviations")
    first = samples[0]
    owner, material = first.owner, first.material
    old = None
    if replaces:
        old = session.scalar(select(Certificate).where(Certificate.number == replaces))
        if old is None:
            raise InputError("replaces", f"no certificate {replaces!r}")
        _check_replaces(session, old, owner.id, material.id, lot)
    spec = load_spec(session, material.id)
    grade = _worst_grade(spec, [s.grade for s in samples])
    now = utcnow().replace(microsecond=0)
    if old is not None:
        series, revision = old.series, old.revision + 1
        number = f"{series}-R{revision}"
    else:
        line = session.get(ProgrammeLine, first.line_id)
        prefix = f"{line.sample_prefix}-COA"
        year = now.astimezone(issuer.timezone).year
        series, revision = format_code(prefix, year, next_numbers(session, prefix, year)[0]), 0
        number = series
    for sample in samples:
        if sample.state == "verified":  # a lot revision carries over samples certified before
            workflow.certify_sample(session, sample, actor)

    content = build_content(
        kind=kind,
        number=number,
        revision=revision,
        issued_at=now,
        lab=_lab(session),
        lab_name=issuer.lab_name,
        owner=owner,
        samples=samples,
        lot=lot,
        spec=spec,
        grade=grade,
        authorised_by=actor,
        tz=issuer.timezone,
        condition=(condition or "").strip() or DEFAULT_CONDITION,
        deviations=deviations,
        replaces=old,
        description=description,
    )
    canonical = signing.canonical(content)
    cert = Certificate(
        number=number,
        series=series,
        revision=revision,
        kind=kind,
        owner_org_id=owner.id,
        lot_id=lot.id if lot else None,
        material_id=material.id,
        line_id=first.line_id,
        grade=grade,
        issued_at=now,
        issued_by_id=actor.id,
        content=canonical.decode(),
        content_hash=signing.content_hash(canonical),
        signature=signing.sign(issuer.private_key, canonical),
        key_id=issuer.key_id,
        status="valid",
        supersedes_id=old.id if old else None,
        search_text=" ".join(
            [
                number,
                lot.code if lot else "",
                *(s.code for s in samples),
                material.code,
                material.name,
                owner.name,
                grade,
                description,
            ]
        ).lower(),
    )
    cert.samples = list(samples)
    session.add(cert)
    session.flush()
    audit.record(
        session, actor, "certificate.issue", "certificate", number, None, _audit_view(cert)
    )
    if old is not None:
        before = _audit_view(old)
        old.status = "superseded"
        audit.record(
            session,
            actor,
            "certificate.supersede",
            "certificate",
            old.number,
            before,
            _audit_view(old) | {"superseded_by": number},
        )
        for grant in old.grants:
            _grant(session, actor, cert, grant.organization)
    return cert


def _audit_view(cert: Certificate) -> dict[str, Any]:
    # The signed content is large and kept in the row itself; the trail records its hash.
    view = audit.snapshot(cert)
    for key in ("content", "search_text", "signature"):
        view.pop(key, None)
    return view


def issue_for_sample(
    session: Session,
    issuer: Issuer,
    actor: User,
    sample: Sample,
    *,
    condition: str | None = None,
    deviations: list[str] | None = None,
    replaces: str | None = None,
) -> Certificate:
    require_role(actor, ISSUERS, "issue certificates")
    _lock_sample(session, sample)
    if sample.state != "verified":
        raise WorkflowError(
            f"cannot certify sample {sample.code}: it is {sample.state} (all results must be verified)"
        )
    if not _reported([sample]):
        raise WorkflowError(f"cannot certify sample {sample.code}: it has no verified results")
    description = sample.description or f"{sample.material.name}, sample {sample.code}"
    return _issue(
        session,
        issuer,
        actor,
        kind="sample",
        samples=[sample],
        lot=sample.lot,
        description=description,
        condition=condition,
        deviations=deviations,
        replaces=replaces,
    )


# Samples of a lot in these states are still being tested: a lot certificate must wait for them.
_IN_TESTING = ("registered", "received", "to_be_verified")


def issue_for_lot(
    session: Session,
    issuer: Issuer,
    actor: User,
    lot: Lot,
    *,
    condition: str | None = None,
    deviations: list[str] | None = None,
    replaces: str | None = None,
) -> Certificate:
    """One certificate for a lot from all its verified samples (none may still be in testing).

    A revision of a withdrawn lot certificate also keeps the samples of the old certificate that
    are still certified (the invalidated ones drop out), next to any newly verified ones.
    """
    require_role(actor, ISSUERS, "issue certificates")
    samples = session.scalars(
        select(Sample).where(Sample.lot_id == lot.id).order_by(Sample.id).with_for_update(of=Sample)
    ).all()
    busy = [s.code for s in samples if s.state in _IN_TESTING]
    if busy:
        raise WorkflowError(
            f"cannot certify lot {lot.code}: sample(s) {', '.join(busy)} not yet verified"
        )
    old = by_number(session, replaces) if replaces else None
    kept = {s.id for s in old.samples if s.state == "certified"} if old and old.lot_id == lot.id else set()
    ready = [
        s for s in samples if (s.state == "verified" and _reported([s])) or s.id in kept
    ]
    if not ready:
        raise WorkflowError(
            f"cannot certify lot {lot.code}: it has no verified samples left to certify"
        )
    return _issue(
        session,
        issuer,
        actor,
        kind="lot",
        samples=ready,
        lot=lot,
        description=f"Lot {lot.code}: {lot.material.name}",
        condition=condition,
        deviations=deviations,
        replaces=replaces,
    )


# --- withdrawal, grants ----------------------------------------------------------------------


def withdraw_for_sample(
    session: Session, actor: User | None, sample: Sample, reason: str
) -> list[Certificate]:
    """7.8.8: an invalidated sample's valid certificates are withdrawn (the workflow calls this)."""
    certs = session.scalars(
        select(Certificate)
        .join(certificate_sample, certificate_sample.c.certificate_id == Certificate.id)
        .where(certificate_sample.c.sample_id == sample.id, Certificate.status == "valid")
        .with_for_update(of=Certificate)
    ).all()
    for cert in certs:
        before = _audit_view(cert)
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
            _audit_view(cert),
        )
    return certs


def _grant(session: Session, actor: User, cert: Certificate, org: Organization) -> CertificateGrant:
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
    return _grant(session, actor, cert, org)


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


# --- finding ---------------------------------------------------------------------------------


def scope(stmt: Select, user: User) -> Select:
    """Customers: own organization's certificates and those granted to it."""
    if not user.is_customer:
        return stmt
    granted = exists().where(
        CertificateGrant.certificate_id == Certificate.id,
        CertificateGrant.organization_id == user.organization_id,
    )
    return stmt.where(or_(Certificate.owner_org_id == user.organization_id, granted))


def get(session: Session, user: User, cert_id: int) -> Certificate:
    cert = session.scalar(scope(select(Certificate).where(Certificate.id == cert_id), user))
    if cert is None:
        raise NotFound(f"certificate {cert_id} not found")
    return cert


@dataclass(frozen=True)
class Query:
    lot: str | None = None
    material: str | None = None
    grade: str | None = None
    line: str | None = None
    status: str | None = None
    sample: str | None = None
    issued_from: datetime | None = None
    issued_to: datetime | None = None
    q: str | None = None


def _like(text: str) -> str:
    return "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search_statement(user: User, query: Query) -> Select:
    stmt = scope(select(Certificate), user)
    if query.lot:
        # Part of the code in any case: people remember "0412", not "EXT1-2026-0412".
        stmt = stmt.where(
            Certificate.lot_id.in_(select(Lot.id).where(func.lower(Lot.code).like(_like(query.lot), escape="\\")))
        )
    if query.material:
        stmt = stmt.where(
            Certificate.material_id
            == select(Material.id).where(Material.key == query.material).scalar_subquery()
        )
    if query.line:
        stmt = stmt.where(
            Certificate.line_id
            == select(ProgrammeLine.id).where(ProgrammeLine.key == query.line).scalar_subquery()
        )
    if query.grade:
        stmt = stmt.where(func.lower(Certificate.grade).like(_like(query.grade), escape="\\"))
    if query.status:
        stmt = stmt.where(Certificate.status == query.status)
    if query.sample:
        stmt = stmt.where(
            exists().where(
                and_(
                    certificate_sample.c.certificate_id == Certificate.id,
                    certificate_sample.c.sample_id
                    == select(Sample.id).where(Sample.code == query.sample).scalar_subquery(),
                )
            )
        )
    if query.issued_from:
        stmt = stmt.where(Certificate.issued_at >= query.issued_from)
    if query.issued_to:
        stmt = stmt.where(Certificate.issued_at < query.issued_to)
    if query.q:
        stmt = stmt.where(Certificate.search_text.like(_like(query.q), escape="\\"))
    return stmt.order_by(Certificate.issued_at.desc(), Certificate.id.desc())


def search(
    session: Session, user: User, query: Query, page: int, per_page: int
) -> tuple[list[Certificate], int]:
    """One page (1-based) of the caller's certificates, newest first, and the total count."""
    stmt = search_statement(user, query)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return list(rows), total


# --- files and public checks -----------------------------------------------------------------


def content_of(cert: Certificate) -> dict[str, Any]:
    return json.loads(cert.content)


def json_file(cert: Certificate) -> bytes:
    return document.to_bytes(
        document.envelope(content_of(cert), cert.content_hash, cert.signature, cert.key_id)
    )


def verify_url(public_url: str, cert: Certificate) -> str:
    return f"{public_url.rstrip('/')}/verify/{cert.number}?hash={cert.content_hash}"


def pdf_file(cert: Certificate, public_url: str) -> bytes:
    """The PDF as issued; one of a withdrawn certificate is stamped WITHDRAWN on every page."""
    stamp = None
    if cert.status != "valid":
        stamp = f"on {cert.withdrawn_at:%Y-%m-%d}"
        if cert.superseded_by is not None:
            stamp += f", replaced by {cert.superseded_by.number}"
    return render_pdf.render(
        content_of(cert), cert.content_hash, verify_url(public_url, cert), cert.issued_at, stamp
    )


def by_number(session: Session, number: str) -> Certificate | None:
    return session.scalar(select(Certificate).where(Certificate.number == number))


def public_summary(cert: Certificate) -> dict[str, Any]:
    """What anyone holding the number may see: no customer, no results."""
    content = content_of(cert)
    return {
        "number": cert.number,
        "revision": cert.revision,
        "status": cert.status,
        "material": {"code": cert.material.code, "name": cert.material.name},
        "grade": cert.grade,
        "issued_on": content["dates"]["issue"],
        "issued_at": cert.issued_at,
        "laboratory": content["laboratory"]["name"],
        "content_hash": cert.content_hash,
        "withdrawn_at": cert.withdrawn_at,
        "withdrawn_reason": cert.withdrawn_reason or None,
        "superseded_by": cert.superseded_by.number if cert.superseded_by else None,
        "replaces": cert.supersedes.number if cert.supersedes else None,
    }


@dataclass(frozen=True)
class UploadCheck:
    valid: bool
    reason: str
    signature_valid: bool
    registered: bool
    matches_registered: bool
    certificate: Certificate | None


def check_upload(session: Session, raw: bytes, public_key) -> UploadCheck:
    """An uploaded JSON file: signature and hash, then the registered copy byte for byte."""
    result = document.verify(raw, public_key)
    cert = by_number(session, result.number) if result.number else None
    if not result.valid:
        return UploadCheck(False, result.reason, False, cert is not None, False, cert)
    if cert is None:
        return UploadCheck(
            False, f"no certificate {result.number} is registered", True, False, False, None
        )
    if cert.content.encode() != result.canonical:
        return UploadCheck(
            False,
            "the signed content differs from the registered certificate",
            True,
            True,
            False,
            cert,
        )
    if cert.status != "valid":
        why = f"certificate {cert.number} is {cert.status}"
        if cert.superseded_by:
            why += f"; current revision: {cert.superseded_by.number}"
        return UploadCheck(False, why, True, True, True, cert)
    return UploadCheck(True, "genuine and valid", True, True, True, cert)

