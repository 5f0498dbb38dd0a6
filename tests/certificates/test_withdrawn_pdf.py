"""A withdrawn certificate's PDF is the document the lab issued, byte for byte, with its
signature of the issue; what happened since is told beside it (the download's
X-Certificate-Status, the portal, the verify page the PDF's QR code opens)."""

from __future__ import annotations

from tests.certificates.conftest import ok

LOT = "L-EXT1-2026-0088"


def test_a_withdrawn_or_superseded_certificate_downloads_as_issued(lab):
    reviewer, customer = lab.as_("reviewer"), lab.as_("polyvorm")
    lab.lot(LOT, owner="polyvorm")
    sample = lab.verified_sample(LOT)
    cert = ok(reviewer.post("/certificates", json={"sample": sample}), 201)
    issued = customer.get(f"/certificates/{cert['id']}.pdf")
    assert issued.status_code == 200

    ok(reviewer.post(f"/certificates/{cert['id']}/reopen", json={"reason": "balance out of calibration"}))
    withdrawn = customer.get(f"/certificates/{cert['id']}.pdf")
    assert withdrawn.data == issued.data
    assert issued.headers["X-Certificate-Status"] == "valid"
    assert withdrawn.headers["X-Certificate-Status"] == "withdrawn"
    assert customer.get(f"/certificates/{cert['id']}.json").headers["X-Certificate-Status"] == "withdrawn"

    ok(reviewer.post(f"/certificates/{cert['id']}/amend", json={"reason": "balance recalibrated"}), 201)
    superseded = customer.get(f"/certificates/{cert['id']}.pdf")
    assert superseded.headers["X-Certificate-Status"] == "superseded"
    assert superseded.data == issued.data
