"""A Dutch reader who uploads a certificate file at /verify that the lab refuses is told why in
Dutch; the same file sent to the API, or checked with `recyclab certificate verify`, gets the
reason in English."""

from __future__ import annotations

import re
from io import BytesIO

from click.testing import CliRunner
from fpdf import FPDF

from lims.certificates import document, signing
from lims.certificates.cli import certificate

DUTCH = {"Accept-Language": "nl-NL,nl;q=0.9"}
UNREGISTERED = "NTK-COA-2026-999999"


def _signed_by_the_lab(app, content: dict) -> bytes:
    key = signing.signing_key(app.config["RECYCLAB"])
    kid = signing.key_id(key.public_key())
    content = {**content, "key_id": kid}
    canonical = signing.canonical(content)
    return document.to_bytes(
        document.envelope(content, signing.content_hash(canonical), signing.sign(key, canonical), kid)
    )


def _unsigned_pdf() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    return bytes(pdf.output())


def _verdict_on_the_page(client, raw: bytes, name: str) -> str:
    form = client.get("/verify", headers=DUTCH).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    shown = client.post(
        "/verify", data={"csrf_token": token, "file": (BytesIO(raw), name)},
        content_type="multipart/form-data", headers=DUTCH,
    )
    assert shown.status_code == 200
    return re.search(r'<p class="verdict[^"]*">(.*?)</p>', shown.get_data(as_text=True), re.S).group(1)


def _reason_from_the_api(client, raw: bytes, mimetype: str) -> str:
    answer = client.post("/api/v1/public/certificates/verify", data=raw, content_type=mimetype, headers=DUTCH)
    assert answer.status_code == 200
    return answer.get_json()["reason"]


def test_a_dutch_reader_is_told_in_dutch_why_an_uploaded_file_is_refused_while_the_api_says_it_in_english(
    app, client, tmp_path
):
    registered_nowhere = _signed_by_the_lab(app, {"number": UNREGISTERED, "grade": "A"})
    tampered = registered_nowhere.replace(b'"A"', b'"A+"')
    cases = [
        # (file, name, mimetype, Dutch on the page, English from the API)
        (registered_nowhere, "c.json", "application/json",
         f"er is geen certificaat {UNREGISTERED} geregistreerd", f"no certificate {UNREGISTERED} is registered"),
        (tampered, "c.json", "application/json",
         "de inhoud komt niet overeen met zijn content_hash", "content does not match its content_hash"),
        (b"{}", "c.json", "application/json",
         "onleesbaar: geen recyclab-certificate/1-document", "malformed: not a recyclab-certificate/1 document"),
        (_unsigned_pdf(), "c.pdf", "application/pdf", "de PDF is niet ondertekend", "the PDF is not signed"),
        (b"%PDF-1.7 and nothing else", "c.pdf", "application/pdf",
         "geen leesbare ondertekende PDF", "not a readable signed PDF"),
    ]
    for raw, name, mimetype, dutch, english in cases:
        verdict = _verdict_on_the_page(client, raw, name)
        assert "Niet geldig:" in verdict and dutch in verdict, (dutch, verdict)
        assert english not in verdict
        assert english in _reason_from_the_api(client, raw, mimetype)


def test_the_command_line_check_says_why_in_english(app, tmp_path, monkeypatch):
    monkeypatch.setenv("RECYCLAB_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("RECYCLAB_SIGNING_KEY_FILE", raising=False)
    file = tmp_path / "c.pdf"
    file.write_bytes(_unsigned_pdf())
    refused = CliRunner().invoke(certificate, ["verify", str(file)])
    assert refused.exit_code == 1 and "INVALID: the PDF is not signed" in refused.output


def test_an_empty_file_is_refused_in_the_readers_language_on_the_page_and_under_its_field_by_the_api(client):
    form = client.get("/verify", headers=DUTCH).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    shown = client.post(
        "/verify", data={"csrf_token": token, "file": (BytesIO(b""), "c.pdf")},
        content_type="multipart/form-data", headers=DUTCH,
    )
    assert shown.status_code == 422
    page = shown.get_data(as_text=True)
    assert "Het bestand is leeg" in page and "semantic errors" not in page
    assert 'type="file"' in page  # the form stays, to choose another file
    answer = client.post("/api/v1/public/certificates/verify", data=b"", content_type="application/json", headers=DUTCH)
    assert answer.status_code == 422 and "send the certificate PDF or JSON file" in answer.get_json()["errors"]["json"]["file"][0]
