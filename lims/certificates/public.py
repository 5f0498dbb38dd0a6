"""What leaves the lab: the PDF and JSON files, and the public checks anyone holding a
certificate number or file may make."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from lims.certificates import document, pdf_signature, render_pdf, signing
from lims.certificates.content import AMENDMENT_PENDING, REPLACED_ON, WITHDRAWN_ON, day, time_zone
from lims.kernel.clock import utcnow
from lims.kernel.errors import N_, Text
from lims.kernel.models import Method
from lims.kernel.models.certificate import Certificate
from lims.kernel.models.reference import NamedInDutch
from lims.kernel.settings import Settings


def content_of(cert: Certificate) -> dict[str, Any]:
    return json.loads(cert.content)


def json_file(cert: Certificate) -> bytes:
    return document.to_bytes(
        document.envelope(content_of(cert), cert.content_hash, cert.signature, cert.key_id)
    )


def verify_url(public_url: str, cert: Certificate) -> str:
    return f"{public_url.rstrip('/')}/verify/{cert.number}?hash={cert.content_hash}"


@dataclass(frozen=True)
class PdfSigner:
    """The lab's current key and its X.509 certificate, for the PAdES signature of a PDF."""

    key: Ed25519PrivateKey
    certificate: x509.Certificate

    @classmethod
    def from_settings(cls, settings: Settings) -> PdfSigner:
        key = signing.signing_key(settings)
        certificates = signing.certificates(signing.key_path(settings), settings.lab_name)
        return cls(key, certificates[signing.key_id(key.public_key())])


def _names_in(cert: Certificate, content: dict[str, Any], language: str) -> dict[str, str]:
    """English name -> name in `language` of the reference rows the certificate names, and
    English conditions -> conditions in `language` of its methods."""
    if language == "en":
        return {}
    method_keys = {r["method"]["key"] for r in content["results"]}
    rows: list[NamedInDutch] = [cert.material, cert.line, *([cert.lot.installation] if cert.lot else [])]
    methods: list[Method] = []
    session = object_session(cert)
    if session is not None and method_keys:
        methods = list(session.scalars(select(Method).where(Method.key.in_(method_keys))))
    names = {row.name: row.name_in(language) for row in [*rows, *methods]}
    return names | {m.conditions: m.conditions_in(language) for m in methods if m.conditions}


def signed_pdf(cert: Certificate, public_url: str, signer: PdfSigner, when: datetime) -> bytes:
    """The PDF drawn from the certificate's signed content in its customer's language, with that
    content's file attached, PAdES-signed; one of a withdrawn certificate is stamped WITHDRAWN on
    every page."""
    content = content_of(cert)
    stamp = None
    if cert.status != "valid":
        withdrawn_on = day(cert.withdrawn_at, time_zone(content))
        stamp = (
            Text(REPLACED_ON, day=withdrawn_on, number=cert.superseded_by.number)
            if cert.superseded_by is not None
            else Text(WITHDRAWN_ON, day=withdrawn_on)
        )
    language = cert.owner.language
    pdf = render_pdf.render(
        content, cert.content_hash, verify_url(public_url, cert), cert.issued_at, stamp,
        language=language, names=_names_in(cert, content, language),
    )
    return pdf_signature.sign(pdf, json_file(cert), signer.key, signer.certificate, when, cert.number, language)


def pdf_file(cert: Certificate, settings: Settings) -> bytes:
    """The PDF the lab signed when it issued the certificate, with the key the content names.

    Signed and kept at issue, rather than signed at each download, because after a key rotation
    only the current key can sign: a PDF signed later would carry another key than its content,
    and a signing time long after the issue. It stays the issued document after a withdrawal
    too: the customer's copy and the lab's are the same bytes, and its certification signature
    permits no stamp added later; the status is told beside it (the download's header, the
    portal, the verify page its QR code opens). Only one issued before PDFs were kept is drawn
    and signed at download with the current key, stamped WITHDRAWN when it is."""
    if cert.pdf is not None:
        return cert.pdf
    signer = PdfSigner.from_settings(settings)
    return signed_pdf(cert, settings.public_url, signer, utcnow().replace(microsecond=0))


# The number column's width (String(40)).
NUMBER_LENGTH = 40


def by_number(session: Session, number: str) -> Certificate | None:
    """Numbers are case-insensitive (people type them); they are issued in upper case. A text
    no number can be (a NUL, which the database refuses in a query, or longer than the column:
    an uploaded file's content says what it likes) names none."""
    number = number.strip().upper()
    if "\x00" in number or len(number) > NUMBER_LENGTH:
        return None
    return session.scalar(select(Certificate).where(Certificate.number == number))


# What the public verify page says about why a certificate is no longer valid, by cause.
PUBLIC_WITHDRAWAL_CATEGORIES = {
    "invalidated": "results invalidated after issue",
    "pending_revision": "withdrawn pending a corrected revision",
    "superseded": "replaced by a revised certificate",
}


def withdrawal_cause(cert: Certificate) -> str | None:
    """Why the certificate is no longer valid: replaced by a revision, reopened for a correction
    whose revision is not issued yet, or withdrawn because its sample's results were invalidated."""
    if cert.status == "valid":
        return None
    if cert.status == "superseded":
        return "superseded"
    return "pending_revision" if cert.withdrawn_reason.startswith(AMENDMENT_PENDING) else "invalidated"


def latest_revision(cert: Certificate) -> Certificate:
    """The newest revision of the certificate's item: each revision names the one that replaced
    it, so an old file's holder is sent to the end of the chain, not to the next link."""
    seen = {cert.id}
    while cert.superseded_by is not None and cert.superseded_by.id not in seen:
        cert = cert.superseded_by
        seen.add(cert.id)
    return cert


def current_revision(cert: Certificate) -> Certificate | None:
    """The revision in force that replaced this certificate, if one is (None for a certificate
    in force itself, or whose latest revision is withdrawn too)."""
    latest = latest_revision(cert)
    return latest if latest is not cert and latest.status == "valid" else None


def public_summary(cert: Certificate) -> dict[str, Any]:
    """What anyone holding the number may see: no customer, no results."""
    content = content_of(cert)
    cause = withdrawal_cause(cert)
    return {
        "number": cert.number,
        "revision": cert.revision,
        "status": cert.status,
        "material": {"code": cert.material.code, "name": cert.material.name, "name_nl": cert.material.name_nl},
        "grade": cert.grade,
        "issued_on": content["dates"]["issue"],
        "issued_at": cert.issued_at,
        "laboratory": content["laboratory"]["name"],
        "content_hash": cert.content_hash,
        "withdrawn_at": cert.withdrawn_at,
        "withdrawn_on": day(cert.withdrawn_at, time_zone(content)),
        "time_zone": time_zone(content).key,
        # The free-text reason can name a customer: it stays internal (audit trail, staff API).
        "withdrawal_cause": cause,
        "withdrawal_category": PUBLIC_WITHDRAWAL_CATEGORIES.get(cause) if cause else None,
        "superseded_by": cert.superseded_by.number if cert.superseded_by else None,
        "replaces": cert.supersedes.number if cert.supersedes else None,
        "current_revision": current.number if (current := current_revision(cert)) else None,
    }


def _cause_text(cert: Certificate) -> Text:
    return Text(PUBLIC_WITHDRAWAL_CATEGORIES[withdrawal_cause(cert) or "invalidated"])


@dataclass(frozen=True)
class UploadCheck:
    valid: bool
    reason: str
    signature_valid: bool
    registered: bool
    matches_registered: bool
    certificate: Certificate | None


def check_upload(session: Session, raw: bytes, published: Sequence[signing.PublishedKey]) -> UploadCheck:
    """An uploaded certificate file, JSON or PDF. JSON: signature (by the key it names) and hash.
    PDF: its PAdES signature by a key the lab published, nothing changed after signing, then the
    certificate file it carries as for JSON. Then the registered copy byte for byte, and its
    status."""
    if pdf_signature.is_pdf(raw):
        result = pdf_signature.verify(raw, published)
    else:
        result = document.verify(raw, {k.kid: k.public_key for k in published})
    cert = by_number(session, result.number) if result.number else None
    if not result.valid:
        return UploadCheck(False, result.reason, False, cert is not None, False, cert)
    if cert is None:
        return UploadCheck(
            False, N_("no certificate %(number)s is registered", number=result.number), True, False, False, None
        )
    if cert.content.encode() != result.canonical:
        return UploadCheck(
            False,
            N_("the signed content differs from the registered certificate"),
            True,
            True,
            False,
            cert,
        )
    if cert.status != "valid":
        # The status as the pages' badges name it (withdrawn, superseded), so the catalogue has it.
        status = Text(cert.status)
        latest = latest_revision(cert)
        if latest is not cert and latest.status == "valid":
            why = N_(
                "certificate %(number)s is %(status)s; current revision: %(current)s",
                number=cert.number, status=status, current=latest.number,
            )
        elif latest is not cert:
            # Replaced, but its latest revision was withdrawn too: none is in force.
            why = N_(
                "certificate %(number)s is %(status)s; its latest revision %(latest)s is %(latest_status)s: %(cause)s",
                number=cert.number, status=status, latest=latest.number, latest_status=Text(latest.status),
                cause=_cause_text(latest),
            )
        else:
            why = N_(
                "certificate %(number)s is %(status)s: %(cause)s", number=cert.number, status=status,
                cause=_cause_text(cert),
            )
        return UploadCheck(False, why, True, True, True, cert)
    return UploadCheck(True, N_("genuine and valid"), True, True, True, cert)

