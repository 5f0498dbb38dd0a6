"""Labels carry the sample ID as Code 128 and QR code, in PNG and PDF."""

from __future__ import annotations

import io

import zxingcpp
from PIL import Image, PdfParser

from tests.lims.conftest import ok, register


def _decoded(image: Image.Image) -> dict[str, str]:
    return {r.format.name: r.text for r in zxingcpp.read_barcodes(image)}


def test_label_png_and_pdf_carry_the_id_as_barcode_and_qr(lab):
    tech = lab.as_("tech")
    code = register(tech, methods=[], storage_location="Rack C3")["sample_id"]
    part = ok(tech.post(f"/samples/{code}/partitions", json={}), 201)["samples"][0]["sample_id"]

    for sample_id in (code, part):
        r = tech.get(f"/samples/{sample_id}/label")
        assert r.status_code == 200 and r.mimetype == "image/png"
        png = Image.open(io.BytesIO(r.data))
        assert png.format == "PNG" and png.text["sample_id"] == sample_id
        assert _decoded(png) == {"QRCode": sample_id, "Code128": sample_id}

    r = tech.get(f"/samples/{code}/label", query_string={"format": "pdf"})
    assert r.status_code == 200 and r.mimetype == "application/pdf" and r.data.startswith(b"%PDF-")
    info = PdfParser.PdfParser(buf=r.data).info
    assert PdfParser.decode_text(info[b"Title"]) == code
    assert tech.get(f"/samples/{code}/label", query_string={"format": "svg"}).status_code == 422
