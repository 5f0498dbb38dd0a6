"""Every date on a certificate follows one rule: the lab's zone (Europe/Amsterdam), named on the
document. Issued at 23:15 UTC, a certificate is dated the next day everywhere, and a process whose
clock is behind cannot make it look withdrawn before it was issued."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from lims.kernel.clock import frozen_at
from lims.kernel.models.certificate import Certificate
from tests.certificates.conftest import ok, pdf_text

LOT = "L-EXT1-2026-0077"
ISSUED = datetime(2026, 12, 2, 23, 15, tzinfo=UTC)  # 00:15 on 3 December in Amsterdam


def test_one_time_zone_for_every_date_on_a_certificate(lab, client, session_factory, tmp_path: Path):
    reviewer, customer = lab.as_("reviewer"), lab.as_("polyvorm")
    with frozen_at(datetime(2026, 12, 2, 22, 0, tzinfo=UTC)):
        lab.lot(LOT, owner="polyvorm")
        sample = lab.verified_sample(LOT)
    with frozen_at(ISSUED):
        cert = ok(reviewer.post("/certificates", json={"sample": sample}), 201)
    number = cert["number"]

    content = json.loads(customer.get(f"/certificates/{cert['id']}.json").data)["certificate"]
    assert content["issued_at"] == "2026-12-03T00:15:00+01:00"
    assert content["dates"]["issue"] == "2026-12-03"
    assert content["dates"]["time_zone"] == "Europe/Amsterdam"
    # Lot production 2026-11-20 06:00-14:00 UTC (tests/certificates/support.py), in CET.
    assert content["item"]["lot"]["production_start"] == "2026-11-20 07:00"
    assert content["item"]["lot"]["production_end"] == "2026-11-20 15:00"

    flat = " ".join(pdf_text(customer.get(f"/certificates/{cert['id']}.pdf").data, tmp_path).split())
    assert "Issue 03/12/2026" in flat and "Issued 03/12/2026 00:15 Europe/Amsterdam" in flat
    assert "all dates and times in Europe/Amsterdam" in flat
    assert "UTC" not in flat

    # Withdrawn by a web process whose clock is five minutes behind the one that issued it.
    with frozen_at(datetime(2026, 12, 2, 23, 10, tzinfo=UTC)):
        ok(reviewer.post(f"/samples/{sample}/invalidate", json={"reason": "balance out of calibration"}))
    public = ok(client.get(f"/api/v1/public/certificates/{number}"))
    assert datetime.fromisoformat(public["withdrawn_at"]) >= ISSUED
    assert public["issued_on"] == public["withdrawn_on"] == "2026-12-03"
    page = client.get(f"/verify/{number}").get_data(as_text=True)
    issued_on = re.search(r"Issued on</dt><dd>([\d/]+)", page).group(1)
    withdrawn_on = re.search(r"Withdrawn on ([\d/]+)", page).group(1)
    assert issued_on == withdrawn_on == "03/12/2026"
    assert "in Europe/Amsterdam" in page
    # One issued before PDFs were kept is drawn at download, stamped with the same day.
    with session_factory.begin() as s:
        s.get(Certificate, cert["id"]).pdf = None
    stamped = "".join(pdf_text(customer.get(f"/certificates/{cert['id']}.pdf").data, tmp_path, "-raw").split())
    assert stamped.count("WITHDRAWN") == len(re.findall(r"Page\d+/", stamped)) > 0  # on every page
    assert "on03/12/2026" in stamped and "on02/12/2026" not in stamped
