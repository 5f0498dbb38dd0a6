"""The certificate story: a reviewer certifies a sample; the manufacturer finds it, downloads the
PDF and the signed JSON and verifies both (PDF signature as a reader checks it, library, CLI,
public upload); a changed byte fails; the
certificate is reopened (withdrawn), the result retested (an OOS investigation) and the certificate
amended into a new revision of the same sample; another organization sees none of it."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import zxingcpp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import select

from lims.audit.service import verify_chain
from lims.certificates import document, signing
from lims.kernel.clock import utcnow
from lims.kernel.models import AuditEvent
from tests.certificates.conftest import ok, pdf_text, printed_day

LOT = "L-EXT1-2026-0042"
DEVIATION = "Moisture measured 2 days after receipt instead of on the day of receipt."


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lims.cli", "certificate", "verify", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_certificate_story(lab, app, client, live_server, session_factory, tmp_path: Path, artifacts_dir: Path):
    reviewer, customer = lab.as_("reviewer"), lab.as_("polyvorm")
    lab.lot(LOT, owner="polyvorm")
    sample = lab.verified_sample(LOT, description="Regranulate PP, big bag 3 of 12")

    # --- certify ---------------------------------------------------------------------------------
    cert = ok(
        reviewer.post("/certificates", json={"sample": sample, "deviations": [DEVIATION]}), 201
    )
    number = cert["number"]
    assert re.fullmatch(r"NTK-COA-\d{4}-000001", number)
    assert cert["status"] == "valid" and cert["grade"] == "A" and cert["samples"] == [sample]
    assert ok(reviewer.get(f"/samples/{sample}"))["state"] == "certified"

    # --- the customer finds it and downloads both files ------------------------------------------
    listed = ok(customer.get("/certificates", query_string={"lot": LOT}))
    assert [c["number"] for c in listed] == [number]
    pdf = customer.get(f"/certificates/{cert['id']}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF-")
    signed = customer.get(f"/certificates/{cert['id']}.json")
    assert signed.status_code == 200 and signed.mimetype == "application/json"
    assert f'filename="{number}.json"' in signed.headers["Content-Disposition"]

    # Every ISO/IEC 17025:2017 7.8.2.1 item is printed.
    text = pdf_text(pdf.data, tmp_path)
    pages = [p for p in text.split("\f") if p.strip()]
    flat = " ".join(text.split())
    for i, page_text in enumerate(pages, start=1):
        assert number in page_text, f"number missing on page {i}"
        assert f"Page {i}/{len(pages)}" in page_text
    content = json.loads(signed.data)["certificate"]
    dates = content["dates"]
    expected = [
        "Certificate of Analysis",  # a) title
        "Nationaal Testcentrum Kunststoffen",  # b) lab name
        "Laboratoriumweg 1, 5600 AA Eindhoven",  # b) lab address
        "Place of testing The laboratory's permanent facilities",  # c) location of testing
        f"End of certificate {number}",  # d) a clear end
        "Polyvorm Spuitgiettechniek B.V.",  # e) customer
        "Industrieweg 14, 7602 PK Almelo",
        "Regranulate PP, big bag 3 of 12",  # g) description of the item
        "Recycled polypropylene",  # material
        LOT,  # lot
        "post-consumer",  # input stream
        "Recycled content 100 %",
        "Condition on receipt No anomalies recorded at receipt.",  # g) condition
        f"Sampling {printed_day(dates['sampling'])}",  # h) dates of sampling and receipt
        f"Receipt {printed_day(dates['receipt'])}",
        f"Testing {printed_day(dates['testing_start'])}",  # i) dates of testing
        f"Issue {printed_day(dates['issue'])}",  # j) date of issue
        "ISO 1133-1, 230 °C, 2.16 kg",  # f) method: standard and conditions
        "ISO 1183-1, method A (immersion), 23 °C",
        "12.00 g/10 min 0.60 8 - 16 (A) in",  # m) value, unit, U, limit, in/out (7.8.3, 7.8.6)
        "U (k=2)",
        "Grade: A",  # statement of conformity and its decision rule (7.8.6)
        "grade specification for PP",
        "guarded acceptance",
        "The results relate only to the items tested.",  # l)
        DEVIATION,  # n) deviations from the method
        "Authorised by",  # o) who authorised it: name and role
        content["authorised_by"]["name"],
        "Reviewer (senior technician)",
        cert["content_hash"],  # authenticity: the content hash is printed
    ]
    missing = [item for item in expected if item not in flat]
    assert not missing, missing

    # Page 1 as an image, for a person to look at.
    pdf_path = tmp_path / "story.pdf"
    pdf_path.write_bytes(pdf.data)
    png_base = artifacts_dir / "certificate-story"
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(pdf_path), str(png_base)],
        check=True,
        timeout=60,
    )
    assert png_base.with_suffix(".png").stat().st_size > 10_000

    # The QR code (in the signature block on the last page) leads to the public verify page.
    qr_base = tmp_path / "last-page"
    last = str(len(pages))
    subprocess.run(
        ["pdftoppm", "-png", "-r", "150", "-f", last, "-l", last, "-singlefile", str(pdf_path), str(qr_base)],
        check=True,
        timeout=60,
    )
    codes = zxingcpp.read_barcodes(Image.open(qr_base.with_suffix(".png")), formats=zxingcpp.BarcodeFormat.QRCode)
    public_url = app.config["RECYCLAB"].public_url
    assert [c.text for c in codes] == [f"{public_url}/verify/{number}?hash={cert['content_hash']}"]

    # --- the signature verifies: library, CLI (key file and URL) and public upload ---------------
    pem = client.get("/.well-known/recyclab-signing-key.pem")
    assert pem.status_code == 200
    public_key = signing.load_public_pem(pem.data)
    jwks = ok(client.get("/.well-known/recyclab-signing-key.json"))
    assert jwks["keys"][0]["kid"] == signing.key_id(public_key) == cert["key_id"]
    assert document.verify(signed.data, public_key).valid

    key_file, good_file = tmp_path / "lab.pem", tmp_path / "good.json"
    key_file.write_bytes(pem.data)
    good_file.write_bytes(signed.data)
    passed = run_cli(str(good_file), "--public-key", str(key_file))
    assert passed.returncode == 0, passed.stderr
    assert f"VALID: {number}" in passed.stdout
    online = run_cli(str(good_file), "--url", live_server)
    assert online.returncode == 0 and "status valid at the lab" in online.stdout, online.stderr

    upload = ok(client.post("/api/v1/public/certificates/verify", data=signed.data, content_type="application/json"))
    assert upload["valid"] and upload["signature_valid"] and upload["matches_registered"]

    # The PDF is signed too: a PDF reader trusting the lab's published signing certificate
    # validates it (pyHanko here), and the upload and the CLI take the PDF as they take the JSON.
    published = x509.load_pem_x509_certificate(client.get("/.well-known/recyclab-signing-cert.pem").data)
    lab_cert = asn1_x509.Certificate.load(published.public_bytes(serialization.Encoding.DER))
    (pdf_signature,) = PdfFileReader(io.BytesIO(pdf.data)).embedded_signatures
    assert validate_pdf_signature(pdf_signature, ValidationContext(trust_roots=[lab_cert], moment=utcnow())).bottom_line
    pdf_upload = ok(client.post("/api/v1/public/certificates/verify", data=pdf.data, content_type="application/pdf"))
    assert pdf_upload["valid"] and pdf_upload["matches_registered"], pdf_upload
    pdf_cli = run_cli(str(pdf_path), "--public-key", str(key_file))
    assert pdf_cli.returncode == 0 and f"VALID: {number}" in pdf_cli.stdout, pdf_cli.stderr
    assert run_cli(str(pdf_path), "--url", live_server).returncode == 0

    # --- one changed byte fails ------------------------------------------------------------------
    tampered = signed.data.replace(b'"value": "12.00"', b'"value": "13.00"', 1)
    assert len(tampered) == len(signed.data) and tampered != signed.data
    assert not document.verify(tampered, public_key).valid
    bad_file = tmp_path / "tampered.json"
    bad_file.write_bytes(tampered)
    failed = run_cli(str(bad_file), "--public-key", str(key_file))
    assert failed.returncode == 1
    assert "INVALID: content does not match its content_hash" in failed.stderr
    rejected = ok(client.post("/api/v1/public/certificates/verify", data=tampered, content_type="application/json"))
    assert not rejected["valid"] and "content_hash" in rejected["reason"]

    # The public status says valid and shows no customer data.
    public = client.get(f"/api/v1/public/certificates/{number}", query_string={"hash": cert["content_hash"]})
    assert ok(public)["status"] == "valid" and public.get_json()["hash_matches"] is True
    assert "Polyvorm" not in public.get_data(as_text=True)
    assert "Valid" in client.get(f"/verify/{number}?hash={cert['content_hash']}").get_data(as_text=True)

    # --- a result must be corrected: the certificate is reopened, i.e. withdrawn ------------------
    reason = "MFR instrument found out of calibration"
    assert lab.as_("tech").post(f"/certificates/{cert['id']}/reopen", json={"reason": reason}).status_code == 403
    ok(reviewer.post(f"/certificates/{cert['id']}/reopen", json={"reason": reason}))
    assert ok(reviewer.get(f"/samples/{sample}"))["state"] == "verified"  # not "invalid" forever
    withdrawn = ok(client.get(f"/api/v1/public/certificates/{number}"))
    assert withdrawn["status"] == "withdrawn"
    assert withdrawn["withdrawal_category"] == "withdrawn pending a corrected revision" and withdrawn["withdrawn_at"]
    assert reason not in str(withdrawn)  # the free text stays internal
    assert run_cli(str(good_file), "--public-key", str(key_file)).returncode == 0  # still genuine
    withdrawn_upload = ok(client.post("/api/v1/public/certificates/verify", data=signed.data, content_type="application/json"))
    assert not withdrawn_upload["valid"] and withdrawn_upload["signature_valid"]
    assert "withdrawn" in withdrawn_upload["reason"]
    # So is the PDF the manufacturer downloaded: genuine, and withdrawn.
    withdrawn_pdf = ok(client.post("/api/v1/public/certificates/verify", data=pdf.data, content_type="application/pdf"))
    assert not withdrawn_pdf["valid"] and withdrawn_pdf["signature_valid"]
    # ... and why, as the verify page says it: a correction is coming.
    assert withdrawn_pdf["reason"] == f"certificate {number} is withdrawn: withdrawn pending a corrected revision"

    # --- the MFR is retested (an OOS investigation: it was verified) and the certificate amended:
    # revision -R1 of the same sample, listing the earlier result ---------------------------------
    tech = lab.as_("tech")
    mfr = next(a for a in ok(tech.get(f"/samples/{sample}"))["analyses"] if a["method"] == "mfr_230_2_16")
    retest = ok(tech.post(f"/analyses/{mfr['id']}/retest", json={"reason": reason}))
    assert ok(tech.get(f"/analyses/{mfr['id']}/oos"))["original_state"] == "verified"
    ok(tech.post(f"/analyses/{retest['id']}/result", json={"value": "11.50", "unit": "g/10 min"}))
    ok(reviewer.post(f"/analyses/{retest['id']}/verify"))
    # Another sample never takes its place.
    other = lab.verified_sample(LOT, description="big bag 4")
    assert reviewer.post("/certificates", json={"sample": other, "replaces": number}).status_code == 422
    revised = ok(
        reviewer.post(f"/certificates/{cert['id']}/amend", json={"reason": "MFR retested after recalibration"}),
        201,
    )
    assert revised["number"] == f"{number}-R1" and revised["revision"] == 1
    assert revised["replaces"] == number and revised["samples"] == [sample]
    assert revised["content"]["replaces"]["number"] == number
    # It says why it was changed (7.8.8): the amendment's reason, not the lab's internal note.
    assert revised["content"]["replaces"]["reason"] == "MFR retested after recalibration"
    new_mfr = next(r for r in revised["content"]["results"] if r["property"] == "mfr")
    assert new_mfr["value"] == "11.50" and [r["value"] for r in new_mfr["retests"]] == ["12.00"]
    assert ok(reviewer.get(f"/samples/{sample}"))["state"] == "certified"

    old = ok(client.get(f"/api/v1/public/certificates/{number}"))
    assert old["status"] == "superseded" and old["superseded_by"] == revised["number"]
    assert old["withdrawal_category"] == "replaced by a revised certificate" and reason not in str(old)
    new = ok(client.get(f"/api/v1/public/certificates/{revised['number']}"))
    assert new["status"] == "valid" and new["replaces"] == number
    page = client.get(f"/verify/{number}").get_data(as_text=True)
    assert "Superseded" in page and revised["number"] in page

    # Both stay retrievable by the customer; the revision's PDF names the one it replaces.
    both = ok(customer.get("/certificates", query_string={"lot": LOT}))
    assert [c["number"] for c in both] == [revised["number"], number]
    assert ok(customer.get(f"/certificates/{cert['id']}"))["status"] == "superseded"
    new_pdf = customer.get(f"/certificates/{revised['id']}.pdf")
    assert f"replaces certificate {number}" in " ".join(pdf_text(new_pdf.data, tmp_path).split())
    assert "WITHDRAWN" not in pdf_text(new_pdf.data, tmp_path)
    # The replaced one is the document issued, unchanged; its status is told beside it.
    old_pdf = customer.get(f"/certificates/{cert['id']}.pdf")
    assert old_pdf.data == pdf.data and old_pdf.headers["X-Certificate-Status"] == "superseded"

    # The CLI asking the running lab: the old file is genuine but superseded.
    stale = run_cli(str(good_file), "--url", live_server)
    assert stale.returncode == 1 and f"{number} is superseded" in stale.stderr
    assert f"current revision: {revised['number']}" in stale.stderr

    # --- another organization sees neither -------------------------------------------------------
    other = lab.as_("vezelwerk")
    for cert_id in (cert["id"], revised["id"]):
        for suffix in ("", ".pdf", ".json", "/grants"):
            assert other.get(f"/certificates/{cert_id}{suffix}").status_code == 404
    assert ok(other.get("/certificates")) == []
    assert ok(other.get("/certificates", query_string={"lot": LOT})) == []

    # --- every certificate action is in the audit trail ------------------------------------------
    with session_factory() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity_type == "certificate").order_by(AuditEvent.seq)
        ).all()
        assert actions == [
            "certificate.issue",
            "certificate.withdraw",
            "certificate.issue",
            "certificate.supersede",
        ]
        assert verify_chain(session).ok
