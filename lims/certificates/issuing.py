"""Issuing certificates of analysis: by a reviewer, for a verified sample or for a lot from its
verified samples. Issuing certifies the samples through the workflow (the workflow never calls
back into certificates).
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from lims.audit import service as audit
from lims.certificates import sharing, signing
from lims.certificates.content import (
    LOT_DESCRIPTION,
    SAMPLE_DESCRIPTION,
    audit_view,
    build_content,
    reported,
    worst_grade,
)
from lims.certificates.public import PdfSigner, by_number, signed_pdf, withdrawal_cause
from lims.kernel.clock import utcnow
from lims.kernel.errors import N_, InputError, Text, WorkflowError
from lims.kernel.models import Lot, Organization, ProgrammeLine, Sample, User
from lims.kernel.models.certificate import Certificate, certificate_sample, open_certificate
from lims.kernel.settings import Settings
from lims.permissions import Capability, require
from lims.samples import workflow
from lims.samples.registration import format_code, next_numbers
from lims.samples.results import load_spec
from lims.samples.workflow import state_word


@dataclass(frozen=True)
class Issuer:
    """What signing needs from the settings: the key and its X.509 certificate, the lab's time
    zone for dates, and the public address the PDF's QR code points to."""

    private_key: Ed25519PrivateKey
    key_id: str
    timezone: ZoneInfo
    lab_name: str
    certificate: x509.Certificate
    public_url: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Issuer:
        signer = PdfSigner.from_settings(settings)
        return cls(
            signer.key,
            signing.key_id(signer.key.public_key()),
            ZoneInfo(settings.timezone),
            settings.lab_name,
            signer.certificate,
            settings.public_url,
        )



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


def lock_withdrawn(session: Session, old: Certificate) -> None:
    """Lock a certificate about to be replaced and check it may be: withdrawn, not yet replaced."""
    session.execute(select(Certificate.id).where(Certificate.id == old.id).with_for_update())
    session.refresh(old)
    if old.status == "valid":
        raise WorkflowError(
            N_("certificate %(number)s is still valid; amend it (or invalidate its sample)", number=old.number)
        )
    if old.status == "superseded":
        if old.superseded_by is None:
            raise AttributeError(f"certificate {old.number} is superseded by no certificate")
        raise WorkflowError(
            N_(
                "certificate %(number)s was already replaced by %(new)s",
                number=old.number, new=old.superseded_by.number,
            )
        )


def _replaced(
    session: Session, replaces: str | None, kind: str, first: Sample, lot: Lot | None, amended: bool
):
    """The certificate a new lot certificate replaces. A sample certificate is revised only by
    amending it: another sample never supersedes it."""
    if not replaces:
        return None
    old = by_number(session, replaces)
    if old is None:
        raise InputError("replaces", f"no certificate {replaces!r}")
    lock_withdrawn(session, old)
    if kind != "lot" or old.kind != "lot":
        raise InputError(
            "replaces",
            f"{old.number} is a {old.kind} certificate: amend it (POST /api/v1/certificates/"
            f"{old.id}/amend); a certificate is never superseded by another item",
        )
    _check_same_item(old, first.owner_org_id, first.material_id, lot)
    if not amended and _reopened(old):
        # Its revision must say why it changed (7.8.8): only amending it gives that reason.
        raise WorkflowError(
            N_("certificate %(number)s was reopened for a correction: amend it, saying why", number=old.number)
        )
    return old


def _reopened(old: Certificate) -> bool:
    return withdrawal_cause(old) == "pending_revision"


def _reason_for_change(old: Certificate, amendment: str | None) -> str:
    """7.8.8: what a revision prints as the reason for the change: the amendment's reason, else
    why the old certificate was withdrawn (a lot's sample invalidated). Never the note reopen()
    leaves on the old certificate, which is the lab's own."""
    if amendment is not None:
        return amendment
    if _reopened(old):  # not reached: _replaced refuses to replace it without amending
        raise AttributeError(f"certificate {old.number} was reopened and is replaced without a reason")
    return old.withdrawn_reason


def _check_same_item(old: Certificate, owner_id: int, material_id: int, lot: Lot | None) -> None:
    if old.owner_org_id != owner_id or old.material_id != material_id:
        raise InputError("replaces", f"{old.number} is for another customer or material")
    if old.lot_id is not None and (lot is None or lot.id != old.lot_id):
        if old.lot is None:
            raise AttributeError(f"certificate {old.number} has no lot {old.lot_id}")
        raise InputError(
            "replaces", f"{old.number} is for lot {old.lot.code}; the new item must be of that lot"
        )


def _not_awaiting_amendment(session: Session, sample: Sample, replacing: Certificate | None) -> None:
    """A verified sample still on a certificate was reopened to correct it (its own or its
    lot's): only the amendment of that certificate certifies it again. Another certificate
    would leave the holder of the withdrawn one without its correction, and the amendment
    would then put the sample on two valid certificates."""
    reopened = open_certificate(session, sample)
    if reopened is not None and reopened is not replacing:
        raise WorkflowError(
            N_(
                "sample %(code)s was reopened to correct certificate %(number)s: amend it",
                code=sample.code, number=reopened.number,
            )
        )


def _check_named(actor: User) -> None:
    """7.8.2.1 o): the certificate identifies the person who authorises it to its reader, by
    name (and function, from the role); a login name identifies nobody outside the lab."""
    if not actor.full_name.strip():
        raise WorkflowError(
            N_(
                "the account %(name)s has no full name to sign certificates with: an administrator must enter it",
                name=repr(actor.username),
            )
        )


def _clean_texts(values: list[str] | None, field: str) -> list[str]:
    out = [v.strip() for v in values or [] if v and v.strip()]
    if any(len(v) > 1000 for v in out):
        raise InputError(field, N_("each entry must be at most 1000 characters"))
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
    deviations: list[str] | None,
    old: Certificate | None,
    amendment: str | None,
) -> Certificate:
    _check_named(actor)
    deviations = _clean_texts(deviations, "deviations")
    first = samples[0]
    owner, material = first.owner, first.material
    spec = load_spec(session, material.id)
    for sample in samples:  # the grade beside the limits this certificate prints is theirs
        workflow.regrade(session, actor, sample)
    grade = worst_grade(spec, [s.grade for s in samples])
    now = utcnow().replace(microsecond=0)
    if old is not None:
        series, revision = old.series, old.revision + 1
        number = f"{series}-R{revision}"
    else:
        line = session.get(ProgrammeLine, first.line_id)
        if line is None:  # not reached: sample.line_id is a foreign key
            raise AttributeError(f"no programme line {first.line_id}")
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
        deviations=deviations,
        replaces=old,
        change_reason=_reason_for_change(old, amendment) if old is not None else "",
        description=description,
        key_id=issuer.key_id,
    )
    canonical = signing.canonical(content)
    cert = Certificate(
        number=number,
        series=series,
        revision=revision,
        kind=kind,
        # Related rows are set, not only their ids: the PDF drawn below names them.
        owner=owner,
        lot=lot,
        material=material,
        line=first.line,
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
    # The PDF names the methods in the customer's language (a query); the row is written once,
    # with its PDF, not inserted first and updated after.
    with session.no_autoflush:
        cert.pdf = signed_pdf(cert, issuer.public_url, PdfSigner(issuer.private_key, issuer.certificate), now)
    session.flush()
    audit.record(
        session, actor, "certificate.issue", "certificate", number, None, audit_view(cert)
    )
    if old is not None:
        before = audit_view(old)
        old.status = "superseded"
        audit.record(
            session,
            actor,
            "certificate.supersede",
            "certificate",
            old.number,
            before,
            audit_view(old) | {"superseded_by": number},
        )
        for grant in old.grants:
            sharing.add_grant(session, actor, cert, grant.organization)
    return cert



def issue_for_sample(
    session: Session,
    issuer: Issuer,
    actor: User,
    sample: Sample,
    *,
    deviations: list[str] | None = None,
    replaces: str | None = None,
) -> Certificate:
    require(actor, Capability.ISSUE_CERTIFICATES)
    _lock_sample(session, sample)
    if sample.state != "verified":
        raise WorkflowError(
            N_(
                "cannot certify sample %(code)s: it is %(state)s (all results must be verified)",
                code=sample.code, state=state_word(sample.state),
            )
        )
    if not reported([sample]):
        raise WorkflowError(N_("cannot certify sample %(code)s: it has no verified results", code=sample.code))
    _not_awaiting_amendment(session, sample, None)
    description = sample.description or f"{sample.material.name}, sample {sample.code}"
    return _issue(
        session,
        issuer,
        actor,
        kind="sample",
        samples=[sample],
        lot=sample.lot,
        description=description,
        deviations=deviations,
        old=_replaced(session, replaces, "sample", sample, sample.lot, amended=False),
        amendment=None,
    )


def revise(
    session: Session,
    issuer: Issuer,
    actor: User,
    old: Certificate,
    reason: str,
    *,
    deviations: list[str] | None = None,
) -> Certificate:
    """The next revision (-R<n>) of a withdrawn certificate, for the same item: the same
    sample(s), or the same lot. Its samples may be certified (nothing changed in them) or
    verified again (reopened and retested). The reason is the amendment's, printed on it."""
    require(actor, Capability.ISSUE_CERTIFICATES)
    lock_withdrawn(session, old)
    if old.kind == "lot":
        if old.lot is None:  # not reached: a lot certificate has its lot
            raise AttributeError(f"lot certificate {old.number} has no lot")
        return issue_for_lot(
            session, issuer, actor, old.lot, deviations=deviations, replaces=old.number, amendment=reason
        )
    samples = sorted(old.samples, key=lambda s: s.id)
    for sample in samples:
        _lock_sample(session, sample)
        if sample.state not in ("verified", "certified") or not reported([sample]):
            raise WorkflowError(
                N_("cannot amend %(number)s: sample %(code)s is invalid", number=old.number, code=sample.code)
                if sample.state == "invalid"
                else N_(
                    "cannot amend %(number)s: sample %(code)s is %(state)s (reopen the certificate and retest it)",
                    number=old.number, code=sample.code, state=state_word(sample.state),
                )
            )
    first = samples[0]
    return _issue(
        session,
        issuer,
        actor,
        kind="sample",
        samples=samples,
        lot=first.lot,
        description=first.description or Text(SAMPLE_DESCRIPTION, material=first.material.name, code=first.code),
        deviations=deviations,
        old=old,
        amendment=reason,
    )


# Samples of a lot in these states are still being tested: a lot certificate must wait for them.
_IN_TESTING = ("registered", "received", "to_be_verified")


def _none_certified_elsewhere(session: Session, lot: Lot) -> None:
    """A lot is graded by its worst sample: a sample already on a valid certificate (its own, or
    the lot's earlier one) would be left out of a new lot certificate, which could then give the
    lot a better grade than that sample allows, beside a certificate that says otherwise. New
    samples join the lot's certificate by amending it (its revision keeps the certified ones)."""
    held = session.execute(
        select(Sample.code, Certificate.number)
        .join(certificate_sample, certificate_sample.c.sample_id == Sample.id)
        .join(Certificate, Certificate.id == certificate_sample.c.certificate_id)
        .where(Sample.lot_id == lot.id, Certificate.status == "valid")
        .order_by(Sample.code, Certificate.number)
    ).all()
    if held:
        raise WorkflowError(
            N_(
                "cannot certify lot %(code)s: sample(s) %(samples)s already on valid certificate(s) "
                "%(numbers)s, which a lot certificate would leave out; to add samples to the lot's "
                "certificate, amend it",
                code=lot.code,
                samples=", ".join(dict.fromkeys(code for code, _ in held)),
                numbers=", ".join(dict.fromkeys(number for _, number in held)),
            )
        )


def _lot_certificate_samples(
    session: Session, lot: Lot, samples: list[Sample], old: Certificate | None
) -> list[Sample]:
    """The samples a certificate for the lot (or the revision of `old`) would carry, from the
    lot's samples; WorkflowError when it cannot be issued."""
    # A sample without analyses (a portion kept back: a partition made for storage) has nothing
    # to test and goes on no certificate; it held the lot's certificate back for good.
    busy = [s.code for s in samples if s.state in _IN_TESTING and s.analyses]
    if busy:
        raise WorkflowError(
            N_(
                "cannot certify lot %(code)s: sample(s) %(busy)s not yet verified",
                code=lot.code, busy=", ".join(busy),
            )
        )
    _none_certified_elsewhere(session, lot)
    kept = {s.id for s in old.samples if s.state == "certified"} if old and old.lot_id == lot.id else set()
    ready = [
        s for s in samples if (s.state == "verified" and reported([s])) or s.id in kept
    ]
    for sample in ready:
        if sample.state == "verified":
            _not_awaiting_amendment(session, sample, old)
    if not ready:
        raise WorkflowError(
            N_("cannot certify lot %(code)s: it has no verified samples left to certify", code=lot.code)
        )
    return ready


def lot_refusal(session: Session, lot: Lot) -> str | None:
    """Why a certificate for the lot cannot be issued now, or None when it can: what the lot
    page asks before it offers "Certify the lot", by the same checks issue_for_lot runs."""
    samples = session.scalars(
        select(Sample).where(Sample.lot_id == lot.id).order_by(Sample.id).options(selectinload(Sample.analyses))
    ).all()
    try:
        _lot_certificate_samples(session, lot, list(samples), None)
    except WorkflowError as exc:
        return exc.message
    return None


def issue_for_lot(
    session: Session,
    issuer: Issuer,
    actor: User,
    lot: Lot,
    *,
    deviations: list[str] | None = None,
    replaces: str | None = None,
    amendment: str | None = None,
) -> Certificate:
    """One certificate for a lot from all its verified samples (none may still be in testing).

    A revision of a withdrawn lot certificate also keeps the samples of the old certificate that
    are still certified (the invalidated ones drop out), next to any newly verified ones.
    """
    require(actor, Capability.ISSUE_CERTIFICATES)
    # Read as the previous holder of the locks left them: a page that read one of these samples
    # before waiting (the sample page's amend) would otherwise certify it in a state it has left.
    samples = session.scalars(
        select(Sample)
        .where(Sample.lot_id == lot.id)
        .order_by(Sample.id)
        .with_for_update(of=Sample)
        .options(selectinload(Sample.analyses))
        .execution_options(populate_existing=True)
    ).all()
    old = by_number(session, replaces) if replaces else None
    ready = _lot_certificate_samples(session, lot, list(samples), old)
    return _issue(
        session,
        issuer,
        actor,
        kind="lot",
        samples=ready,
        lot=lot,
        description=Text(LOT_DESCRIPTION, code=lot.code, material=lot.material.name),
        deviations=deviations,
        old=_replaced(session, replaces, "lot", ready[0], lot, amended=amendment is not None),
        amendment=amendment,
    )

