"""Every link and QR code carries RECYCLAB_PUBLIC_URL, whatever Host header the request has."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from lims.kernel.models.certificate import Certificate
from tests.web import seed
from tests.web.test_pages import _certify, log_in

PUBLIC = "https://lims.example.test/ntk"


@pytest.fixture
def app_settings() -> dict[str, object]:
    return {"public_url": PUBLIC + "/"}


def test_links_and_qr_codes_carry_the_public_url_not_the_host_header(app, client, session_factory, tmp_path: Path):
    seed.seed_reference(session_factory)
    lot = seed.lot_with_samples(session_factory, 1, owner="polyvorm")
    number = _certify(app, session_factory, lot.sample_codes[0])
    with session_factory() as s:
        cert = s.scalar(select(Certificate).where(Certificate.number == number))
    expected = f"{PUBLIC}/verify/{number}?hash={cert.content_hash}"
    app.config["SERVER_NAME"] = "attacker.example:8080"  # the Host header of every request below
    log_in(client, "polyvorm")

    response = client.get("/certificates/")
    assert response.request.host == "attacker.example:8080"
    listing = response.get_data(as_text=True)
    links = re.findall(r'href="([^"]*/verify/[^"]*)"', listing)
    assert [link.replace("&amp;", "&") for link in links] == [expected]

    pdf = client.get(f"/api/v1/certificates/{cert.id}.pdf")
    assert pdf.status_code == 200
    path = tmp_path / "c.pdf"
    path.write_bytes(pdf.data)
    pages = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    last = re.search(r"Pages:\s+(\d+)", pages).group(1)
    subprocess.run(["pdftoppm", "-png", "-r", "150", "-singlefile", "-f", last, "-l", last, str(path),
                    str(tmp_path / "last")], check=True, timeout=60)
    # QR codes only: a line of the page's text can read as a 1D code (Codabar "A-3C" was seen).
    codes = zxingcpp.read_barcodes(Image.open(tmp_path / "last.png"), formats=zxingcpp.BarcodeFormat.QRCode)
    assert [c.text for c in codes] == [expected]
