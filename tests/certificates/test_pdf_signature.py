"""Issue 12, authenticity of the PDF: the served PDF carries the lab's PAdES signature over the
page and the signed certificate file; a PDF changed after signing, re-rendered with other values
or signed by another key is told not valid, with the reason, by the upload API and the public
page; PDFs signed before a key rotation still verify."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import tracemalloc
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fpdf import FPDF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils import embed, generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import update

from lims.certificates import document, pdf_signature, render_pdf, signing
from lims.certificates.cli import keys
from lims.kernel.clock import utcnow
from lims.kernel.models.certificate import Certificate
from tests.certificates import support
from tests.certificates.conftest import ok, pdf_text

LOT = "L-PDF-SIG"
CHECK = "/api/v1/public/certificates/verify"


def _issue(lab) -> dict:
    with lab.session_factory() as session:
        if support.lot_by_code(session, LOT) is None:
            lab.lot(LOT)
    return ok(lab.as_("reviewer").post("/certificates", json={"sample": lab.verified_sample(LOT)}), 201)


def _pdf(lab, cert: dict) -> bytes:
    response = lab.as_("polyvorm").get(f"/certificates/{cert['id']}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    return response.data


def _upload(client, raw: bytes) -> dict:
    return ok(client.post(CHECK, data=raw, content_type="application/pdf"))


def _page_verdict(client, raw: bytes) -> str:
    """What the public /verify page says about an uploaded file."""
    form = client.get("/verify").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    shown = client.post(
        "/verify",
        data={"csrf_token": token, "file": (io.BytesIO(raw), "certificate.pdf")},
        content_type="multipart/form-data",
    )
    assert shown.status_code == 200
    return re.search(r'class="verdict[^"]*">\s*(.*?)</p>', shown.get_data(as_text=True), re.S).group(1).strip()


def _poppler_says(pdf: bytes, tmp_path: Path) -> str:
    """What poppler (the engine of Evince and Okular) reports about the PDF's signature."""
    if shutil.which("pdfsig") is None:
        pytest.fail("pdfsig missing (Debian package poppler-utils)")
    path = tmp_path / "signed.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60).stdout


def overlay_edit(pdf: bytes, text: bytes) -> bytes:
    """An incremental update that paints over page 1 (white box, other text), as an editor
    saving a changed PDF does: the signed bytes stay, new ones follow."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    font = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Font"),
            generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
            generic.NameObject("/BaseFont"): generic.NameObject("/Helvetica"),
        }
    )
    resources = generic.DictionaryObject(
        {generic.NameObject("/Font"): generic.DictionaryObject({generic.NameObject("/FX"): writer.add_object(font)})}
    )
    paint = b"q 1 1 1 rg 40 700 300 40 re f Q BT /FX 14 Tf 45 715 Td (" + text + b") Tj ET"
    writer.add_stream_to_page(0, writer.add_object(generic.StreamObject(stream_data=paint)), resources)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_the_served_pdf_carries_the_labs_pades_signature(lab, app, client, tmp_path):
    cert = _issue(lab)
    pdf = _pdf(lab, cert)
    signed_json = lab.as_("polyvorm").get(f"/certificates/{cert['id']}.json").data

    # The signer's certificate, as published for PDF readers, is issued by the lab's key.
    published = x509.load_pem_x509_certificate(client.get("/.well-known/recyclab-signing-cert.pem").data)
    jwk = ok(client.get("/.well-known/recyclab-signing-key.json"))["keys"][0]
    lab_key = signing.load_public_pem(client.get("/.well-known/recyclab-signing-key.pem").data)
    assert jwk["kid"] == cert["key_id"] == signing.key_id(lab_key)
    lab_key.verify(published.signature, published.tbs_certificate_bytes)  # raises if not

    # pyHanko, trusting that certificate: intact, valid, trusted, the whole file covered, a
    # certification signature that permits no change, made at the issue time.
    reader = PdfFileReader(io.BytesIO(pdf))
    (signature,) = reader.embedded_signatures
    trusted = asn1_x509.Certificate.load(published.public_bytes(serialization.Encoding.DER))
    status = pdf_signature.blocking(lambda: validate_pdf_signature(
        signature, ValidationContext(trust_roots=[trusted], moment=utcnow())))
    assert status.bottom_line, status.pretty_print_details()
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert signature.docmdp_level == MDPPerm.NO_CHANGES
    assert status.signing_cert.dump() == trusted.dump()
    assert status.signer_reported_dt.isoformat().replace("+00:00", "Z") == cert["issued_at"].replace("+00:00", "Z")
    assert app.config["RECYCLAB"].lab_name in status.signing_cert.subject.human_friendly

    # The signed certificate file rides inside the signed PDF, and the page is drawn from it.
    names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
    assert names[0] == "certificate.json" and names[1]["/EF"]["/F"].data == signed_json
    mfr = next(r for r in json.loads(signed_json)["certificate"]["results"] if r["property"] == "mfr")
    assert f"{mfr['value']} g/10 min" in " ".join(pdf_text(pdf, tmp_path).split())

    # A PDF reader's engine (poppler: Evince, Okular) validates the signature as well.
    poppler = _poppler_says(pdf, tmp_path)
    assert "Signature Validation: Signature is Valid." in poppler and "Total document signed" in poppler

    checked = _upload(client, pdf)
    assert checked["valid"] and checked["signature_valid"] and checked["matches_registered"], checked
    assert checked["certificate"]["number"] == cert["number"]
    assert _page_verdict(client, pdf) == "Genuine and valid."


def test_a_pdf_changed_after_signing_is_not_valid(lab, client, tmp_path):
    cert = _issue(lab)
    pdf = _pdf(lab, cert)
    assert _upload(client, pdf)["valid"]

    # Edited in a PDF editor: an incremental update paints another MFR over the signed page.
    edited = overlay_edit(pdf, b"MFR 13.00 g/10 min")
    assert edited.startswith(pdf) and "13.00" in pdf_text(edited, tmp_path)
    result = _upload(client, edited)
    assert not result["valid"] and not result["signature_valid"]
    assert "changed after the lab signed it" in result["reason"]
    assert result["certificate"]["number"] == cert["number"]  # the registered one, to compare
    assert _page_verdict(client, edited).startswith("Not valid: the PDF was changed after the lab signed it")
    assert "Not total document signed" in _poppler_says(edited, tmp_path)  # a reader flags it too

    # Bytes changed inside the signed part.
    patched = pdf.replace(b"/Creator (Recyclab)", b"/Creator (Forgery!)", 1)
    assert patched != pdf and len(patched) == len(pdf)
    result = _upload(client, patched)
    assert not result["valid"] and "does not match its signature" in result["reason"]
    assert "does not match its signature" in _page_verdict(client, patched)
    assert "Signature Validation: Digest Mismatch." in _poppler_says(patched, tmp_path)

    # Re-rendered with another value, the original number and content hash, unsigned.
    content = json.loads(lab.as_("polyvorm").get(f"/certificates/{cert['id']}.json").data)["certificate"]
    for r in content["results"]:
        if r["property"] == "mfr":
            r["value"] = "13.00"
    forged = render_pdf.render(content, cert["content_hash"], "http://lab/verify", utcnow())
    assert cert["number"] in pdf_text(forged, tmp_path) and cert["content_hash"] in pdf_text(forged, tmp_path)
    result = _upload(client, forged)
    assert not result["valid"] and result["reason"] == "the PDF is not signed"
    assert _page_verdict(client, forged) == "Not valid: the PDF is not signed"


def test_a_pdf_signed_by_another_key_is_not_valid(lab, app, client, tmp_path):
    cert = _issue(lab)
    genuine_json = lab.as_("polyvorm").get(f"/certificates/{cert['id']}.json").data
    content = json.loads(genuine_json)["certificate"]
    for r in content["results"]:
        if r["property"] == "mfr":
            r["value"] = "13.00"
    # A forger with a key and a certificate of their own, in the lab's name, signs a re-rendered
    # PDF with the lab's genuine JSON file attached.
    lab_name = app.config["RECYCLAB"].lab_name
    forger = signing.create_key(tmp_path / "forger.pem", utcnow(), lab_name)
    forged = pdf_signature.sign(
        render_pdf.render(content, cert["content_hash"], "http://lab/verify", utcnow()),
        genuine_json,
        forger,
        signing.make_certificate(forger, lab_name, None),
        utcnow().replace(microsecond=0),
        cert["number"],
    )
    assert PdfFileReader(io.BytesIO(forged)).embedded_signatures  # it is signed, just not by the lab
    result = _upload(client, forged)
    assert not result["valid"] and not result["signature_valid"]
    assert "not with a certificate issued by a key the lab published" in result["reason"]
    assert "not with a certificate issued by a key the lab published" in _page_verdict(client, forged)


def test_after_rotation_an_old_certificates_pdf_still_verifies(lab, app, client, session_factory, tmp_path, monkeypatch):
    settings = app.config["RECYCLAB"]
    monkeypatch.setenv("RECYCLAB_VAR_DIR", str(settings.var_dir))
    monkeypatch.delenv("RECYCLAB_SIGNING_KEY_FILE", raising=False)
    before = _issue(lab)
    old_pdf = _pdf(lab, before)
    retired = tmp_path / "retired.pem"
    shutil.copy(signing.key_path(settings), retired)

    rotated = CliRunner().invoke(keys, ["rotate"])
    assert rotated.exit_code == 0, rotated.output
    after = _issue(lab)
    new_pdf = _pdf(lab, after)
    assert after["key_id"] != before["key_id"]

    # The old PDF is kept as issued, signed with the key its content names; both verify.
    assert _pdf(lab, before) == old_pdf
    for pdf, cert in ((old_pdf, before), (new_pdf, after)):
        result = _upload(client, pdf)
        assert result["valid"] and result["certificate"]["number"] == cert["number"], result
        (signature,) = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
        published = client.get(f"/.well-known/recyclab-signing-cert.pem?kid={cert['key_id']}")
        assert published.status_code == 200
        assert x509.load_pem_x509_certificate(published.data).public_bytes(serialization.Encoding.DER) == signature.signer_cert.dump()

    # The retired key no longer signs: a PDF it signs after the rotation is refused.
    old_json = lab.as_("polyvorm").get(f"/certificates/{before['id']}.json").data
    old_key = signing.load_key(retired)
    late = pdf_signature.sign(
        render_pdf.render(json.loads(old_json)["certificate"], before["content_hash"], "http://lab/verify", utcnow()),
        old_json,
        old_key,
        signing.make_certificate(old_key, settings.lab_name, None),
        utcnow().replace(microsecond=0) + timedelta(minutes=1),
        before["number"],
    )
    result = _upload(client, late)
    assert not result["valid"] and "outside the period the lab used that key" in result["reason"]

    # A certificate from before PDFs were kept gets one signed at download by the current key.
    with session_factory.begin() as session:
        session.execute(update(Certificate).where(Certificate.id == before["id"]).values(pdf=None))
    resigned = _pdf(lab, before)
    assert resigned != old_pdf
    (signature,) = PdfFileReader(io.BytesIO(resigned)).embedded_signatures
    assert signature.signer_cert.serial_number == int(after["key_id"], 16)
    assert _upload(client, resigned)["valid"]


@pytest.fixture(scope="module")
def signed_sample(tmp_path_factory):
    """A small PDF signed as the lab signs certificates, and the lab's published key."""
    key = signing.create_key(tmp_path_factory.mktemp("lab") / "lab.pem", utcnow(), "Lab")
    page = FPDF()
    page.add_page()
    page.set_font("Helvetica", size=11)
    page.cell(0, 8, "MFR 12.00 g/10 min")
    content = {"number": "N-1", "key_id": signing.key_id(key.public_key()), "results": [{"value": "12.00"}]}
    canonical = signing.canonical(content)
    attached = document.to_bytes(
        document.envelope(
            content, signing.content_hash(canonical), signing.sign(key, canonical), content["key_id"]
        )
    )
    when = utcnow().replace(microsecond=0)
    pdf = pdf_signature.sign(bytes(page.output()), attached, key, signing.make_certificate(key, "Lab", None), when, "N-1")
    published = [signing.PublishedKey(signing.key_id(key.public_key()), key.public_key(), None, None)]
    return pdf, published


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_byte_change_outside_the_signature_value_fails_without_crashing(signed_sample, data):
    pdf, published = signed_sample
    assert pdf_signature.verify(pdf, published).valid
    at = data.draw(st.integers(0, len(pdf) - 1))
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != pdf[at]))
    changed = pdf[:at] + bytes([byte]) + pdf[at + 1 :]
    verdict = pdf_signature.verify(changed, published)  # a verdict, never an exception
    (signature,) = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    _, signed_before, signed_again, _ = signature.byte_range
    # Only the zero padding after the signature value inside /Contents may change unnoticed:
    # neither the page nor the attached file is there.
    assert not verdict.valid or signed_before <= at < signed_again, (at, verdict)


def _certificate_file_unpacking_to(megabytes: int) -> bytes:
    """An unsigned PDF carrying, where the lab's PDF carries its certificate file, a stream of
    zeros deflated about a thousandfold: a few hundred kB that unpack to `megabytes` MB."""
    page = FPDF()
    page.add_page()
    writer = IncrementalPdfFileWriter(io.BytesIO(bytes(page.output())))
    deflate = zlib.compressobj(9)
    zeros = b"".join(deflate.compress(bytes(1 << 20)) for _ in range(megabytes)) + deflate.flush()
    embedded = embed.EmbeddedFileObject(
        writer, dict_data={generic.NameObject("/Filter"): generic.NameObject("/FlateDecode")}, encoded_data=zeros,
    )
    name = pdf_signature.ATTACHMENT
    embed.embed_file(writer, embed.FileSpec(file_spec_string=name, file_name=name, embedded_data=embedded))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_an_uploaded_pdf_that_unpacks_to_hundreds_of_megabytes_is_refused_without_unpacking_it(client):
    """Anyone may upload at /verify, as often as 60 times a minute and several at once: a
    512 kB file must not cost the web process half a gigabyte each."""
    bomb = _certificate_file_unpacking_to(200)
    assert len(bomb) < 512 * 1024
    tracemalloc.start()
    try:
        verdict = _upload(client, bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not verdict["valid"] and "not a readable signed PDF" in verdict["reason"], verdict
    assert peak < 40 * 2**20, f"{peak / 2**20:.0f} MB held while checking a {len(bomb) // 1024} kB upload"


def test_a_key_set_from_before_certificates_gets_them(lab, app, client, tmp_path, monkeypatch):
    settings = app.config["RECYCLAB"]
    monkeypatch.setenv("RECYCLAB_VAR_DIR", str(settings.var_dir))
    monkeypatch.delenv("RECYCLAB_SIGNING_KEY_FILE", raising=False)
    ring = signing.keyring_path(signing.key_path(settings))
    entries = json.loads(ring.read_text())["keys"]
    for entry in entries:
        del entry["certificate"]
    ring.write_text(json.dumps({"keys": entries}))

    # The current key's certificate is made from the key when needed, the same each time, and
    # the key set is not written (it may be a read-only secret).
    served = client.get("/.well-known/recyclab-signing-cert.pem").data
    assert served == client.get("/.well-known/recyclab-signing-cert.pem").data
    assert "certificate" not in ring.read_text()
    cert = _issue(lab)
    (signature,) = PdfFileReader(io.BytesIO(_pdf(lab, cert))).embedded_signatures
    assert signature.signer_cert.dump() == x509.load_pem_x509_certificate(served).public_bytes(serialization.Encoding.DER)
    assert _upload(client, _pdf(lab, cert))["valid"]

    # A rotation keeps the retiring key's certificate, while its private key is still there.
    assert CliRunner().invoke(keys, ["rotate"]).exit_code == 0
    assert client.get(f"/.well-known/recyclab-signing-cert.pem?kid={cert['key_id']}").data == served
    assert _upload(client, _pdf(lab, cert))["valid"]
    assert client.get("/.well-known/recyclab-signing-cert.pem?kid=0000000000000000").status_code == 404
