"""PAdES signatures of the certificate PDFs (pyHanko), and the check of an uploaded PDF.

The lab signs each PDF with the PDF-signing key of its current key and the X.509 certificate its
key issued for it (lims.certificates.signing: an ECDSA P-256 key derived from the lab's Ed25519
key, since PDF readers validate ECDSA), as a certification signature that permits no change: a
PDF reader shows who signed it and flags any edit. Before signing, the signed certificate file (the JSON
document the page was drawn from) is attached to the PDF, so the PDF signature covers it too and
the check compares an uploaded PDF's values with the lab's signed content, not with what a page
shows.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TypeVar

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pyhanko.pdf_utils import embed, generic
from pyhanko.pdf_utils.decode_limits import DecodeLimits, DocumentDecodeBudget, StreamDecodeLimits
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from lims.certificates import document, signing
from lims.certificates.render_pdf import in_language
from lims.kernel.clock import utcnow
from lims.kernel.errors import N_, Text

ATTACHMENT = "certificate.json"
FIELD = "Recyclab"
# The CMS container with one Ed25519 signature and one certificate takes about 1.3 kB. A fixed
# reservation spares pyHanko a trial signature to measure it (a third of the signing time).
RESERVED_BYTES = 4096
MAGIC = b"%PDF-"
# An uploaded PDF is anyone's, and a deflated stream unpacks up to a thousandfold: pyHanko's
# defaults for untrusted input (256 MB a document) let one 512 kB upload hold half a gigabyte
# while it is checked. What a check unpacks of a PDF the lab signed (its cross-reference and
# object streams, the certificate file of a few kB, the signer's certificate) is some kB.
UPLOAD_DECODE_LIMITS = DecodeLimits(
    per_stream=StreamDecodeLimits(max_output_size=4 * 2**20),
    document_budget=DocumentDecodeBudget(base_allowance=16 * 2**20, max_ratio=16),
)


T = TypeVar("T")


def blocking(call: Callable[[], T]) -> T:
    """pyHanko's blocking calls use asyncio.run(), which refuses to run in a thread whose event
    loop is running (a caller inside asyncio, e.g. Playwright's sync API); such a caller gets
    them in a thread of their own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return call()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


def is_pdf(raw: bytes) -> bool:
    return raw.startswith(MAGIC)


def _asn1_certificate(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


class _SignedAt(signers.PdfSigner):
    """pyHanko takes the signing time from the system clock; ours comes from lims.kernel.clock."""

    def __init__(self, meta: signers.PdfSignatureMetadata, signer: signers.Signer, when: datetime) -> None:
        super().__init__(meta, signer)
        self.when = when

    def init_signing_session(self, pdf_out, existing_fields_only=False):
        session = super().init_signing_session(pdf_out, existing_fields_only)
        session.system_time = self.when
        return session


def sign(
    pdf: bytes,
    certificate_file: bytes,
    key: Ed25519PrivateKey,
    certificate: x509.Certificate,
    when: datetime,
    number: str,
    language: str = "en",
) -> bytes:
    """`pdf` with `certificate_file` attached and a PAdES B-B signature over both, made at `when`;
    the signature's reason and the attachment's description (what a PDF reader's panels show)
    in `language`, the PDF's."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    embed.embed_file(
        writer,
        embed.FileSpec(
            file_spec_string=ATTACHMENT,
            file_name=ATTACHMENT,
            embedded_data=embed.EmbeddedFileObject.from_file_data(
                writer, certificate_file, mime_type="application/json"
            ),
            description=in_language(N_("Signed certificate file of %(number)s", number=number), language),
        ),
    )
    der_key = signing.pdf_key(key).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signer = signers.SimpleSigner(
        _asn1_certificate(certificate),
        asn1_keys.PrivateKeyInfo.load(der_key),
        SimpleCertificateStore(),
    )
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD,
        md_algorithm="sha256",  # what readers validate with ECDSA P-256
        subfilter=fields.SigSeedSubFilter.PADES,
        certify=True,
        docmdp_permissions=fields.MDPPerm.NO_CHANGES,
        reason=in_language(N_("Certificate of analysis %(number)s", number=number), language),
        name=certificate.subject.rfc4514_string(),
    )
    signing_pdf = _SignedAt(meta, signer, when)
    return blocking(lambda: signing_pdf.sign_pdf(writer, bytes_reserved=RESERVED_BYTES)).getvalue()


def _entry(container: generic.PdfObject | None, key: str) -> generic.PdfObject | None:
    if not isinstance(container, generic.DictionaryObject) or key not in container:
        return None
    return container[key]  # indexing resolves an indirect object, .get() does not


def _attachment(reader: PdfFileReader) -> bytes | None:
    pairs = _entry(_entry(_entry(reader.root, "/Names"), "/EmbeddedFiles"), "/Names")
    if not isinstance(pairs, generic.ArrayObject):
        return None
    for i in range(0, len(pairs) - 1, 2):  # name, file specification, name, ...
        if str(pairs[i]) == ATTACHMENT:
            return pairs[i + 1]["/EF"]["/F"].data
    return None


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _signature_problem(reader: PdfFileReader, published: Sequence[signing.PublishedKey]) -> Text | None:
    """Why the PDF's signature does not show it as the lab's, unchanged; None if it does."""
    signatures = reader.embedded_signatures
    if not signatures:
        return N_("the PDF is not signed")
    if len(signatures) > 1:
        return N_("the PDF carries more than one signature (the lab signs once)")
    signature = signatures[0]
    signer_cert = signature.signer_cert
    issued = x509.load_der_x509_certificate(signer_cert.dump())
    lab_key = next((k for k in published if signing.issued_by(issued, k.public_key)), None)
    if lab_key is None:
        return N_(
            "the PDF is signed by %(signer)s, but not with a certificate issued by a key the lab published",
            signer=signer_cert.subject.human_friendly,
        )
    kid = lab_key.kid
    # Only the signer's own certificate is trusted, and only after it was found to be issued by
    # the lab's key. skip_diff: a change after signing is refused whole (below), so there is nothing
    # to weigh.
    context = ValidationContext(trust_roots=[signer_cert], moment=utcnow())
    status = blocking(lambda: validate_pdf_signature(signature, context, skip_diff=True))
    if not status.intact or not status.valid:
        return N_("the PDF's content does not match its signature: it was changed after signing")
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        return N_("the PDF was changed after the lab signed it (content added after the signature)")
    if not status.trusted:
        return N_("the signing certificate of key %(kid)s is not valid now", kid=kid)
    signed_at = status.signer_reported_dt
    if signed_at is None:
        return N_("the PDF signature carries no signing time")
    starts = datetime.fromisoformat(lab_key.valid_from) if lab_key.valid_from else None
    ends = datetime.fromisoformat(lab_key.valid_to) if lab_key.valid_to else None
    if (starts and signed_at < starts) or (ends and signed_at > ends):
        return N_(
            "the PDF was signed at %(when)s with key %(kid)s, outside the period the lab used that key"
            " (%(start)s to %(end)s)",
            when=_stamp(signed_at), kid=kid,
            start=lab_key.valid_from or N_("start"), end=lab_key.valid_to or N_("now"),
        )
    return None


def verify(raw: bytes, published: Sequence[signing.PublishedKey]) -> document.Verification:
    """Is this PDF one the lab signed, unchanged? Its PAdES signature must be by a key the lab
    published, made while the lab used that key and covering the whole file; then the
    certificate file it carries is checked as an uploaded JSON file is (content hash, signature
    by the key its content names). Only the lab can sign, so the values the pages show are those
    of that content."""
    try:
        reader = PdfFileReader(io.BytesIO(raw), strict=False, decode_limits=UPLOAD_DECODE_LIMITS)
        carried = _attachment(reader)
        problem = _signature_problem(reader, published)
    except Exception as exc:  # noqa: BLE001
        # A malformed upload makes pyHanko's parser raise anything (zlib.error, KeyError,
        # IndexError, its own errors, ...): it gets the verdict, not a 500.
        return document.Verification(
            False, N_("not a readable signed PDF (%(error)s: %(detail)s)", error=type(exc).__name__, detail=str(exc))
        )
    content = (
        document.verify(carried, {k.kid: k.public_key for k in published}) if carried else None
    )
    if problem is not None:
        return document.Verification(
            False, problem, content.number if content else None, content.content_hash if content else None
        )
    if content is None:
        return document.Verification(False, N_("the PDF carries no signed certificate file"))
    return content
