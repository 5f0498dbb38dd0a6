"""What the manufacturer reads of its certificates: the person who authorised one by name and
function (ISO/IEC 17025 7.8.2.1 o), never a login name; why one was withdrawn as its cause and
date, as the public verify page says it, never the lab's free-text reason. Lab staff read both."""

from __future__ import annotations

import re
from io import BytesIO

import pytest
from click.testing import CliRunner

from lims.certificates.cli import certificate
from lims.people import accounts as auth
from tests.certificates import support
from tests.certificates.conftest import ok, printed_day

LOT = "L-EXT1-2026-0077"
REASON = "Wrong die on EXT1, noticed by Tim during the Kunststofkringloop audit"


def test_the_customer_reads_who_authorised_it_and_why_it_was_withdrawn_not_staff_records(lab):
    reviewer, customer = lab.as_("reviewer"), lab.as_("polyvorm")
    lab.lot(LOT)
    sample = lab.verified_sample(LOT)
    cert = ok(reviewer.post("/certificates", json={"sample": sample}), 201)

    listed = ok(customer.get("/certificates"))[0]
    detail = ok(customer.get(f"/certificates/{cert['id']}"))
    for seen in (listed, detail):
        assert "issued_by" not in seen and seen["withdrawal_cause"] is None
    assert detail["content"]["authorised_by"] == {"name": "Reviewer", "role": "Reviewer (senior technician)"}
    assert ok(reviewer.get(f"/certificates/{cert['id']}"))["issued_by"] == "reviewer"

    ok(reviewer.post(f"/samples/{sample}/invalidate", json={"reason": REASON}))
    for seen in (ok(customer.get("/certificates"))[0], ok(customer.get(f"/certificates/{cert['id']}"))):
        assert seen["status"] == "withdrawn" and seen["withdrawal_cause"] == "invalidated" and seen["withdrawn_at"]
        assert "withdrawn_reason" not in seen and "Wrong die" not in str(seen)
    assert REASON in ok(reviewer.get(f"/certificates/{cert['id']}"))["withdrawn_reason"]


def test_a_certificate_is_not_authorised_by_an_account_without_a_full_name(lab, session_factory):
    """The certificate would name the login instead of a person (what it did before)."""
    with session_factory.begin() as session:
        auth.create_user(
            session, None, username="rv2", password="pw-second-reviewer-0123456789", role="reviewer",
            organization=auth.get_org(session, "ntk"), full_name="  ",
        )
    lab.lot(LOT)
    sample = lab.verified_sample(LOT)
    with session_factory.begin() as session:
        nameless = support.user(session, "rv2")
        _, token = auth.create_token(session, nameless, nameless, "tests")
    refused = lab.client.post(
        "/api/v1/certificates", json={"sample": sample}, headers={"Authorization": f"Bearer {token}"}
    )
    assert refused.status_code == 409 and "full name" in refused.get_json()["message"]
    assert ok(lab.as_("reviewer").get(f"/samples/{sample}"))["state"] == "verified"


@pytest.mark.usefixtures("live_server")
def test_the_cli_and_the_upload_page_tell_the_cause_and_the_day_of_a_withdrawal(lab, live_server, tmp_path):
    reviewer = lab.as_("reviewer")
    lab.lot(LOT)
    sample = lab.verified_sample(LOT)
    cert = ok(reviewer.post("/certificates", json={"sample": sample}), 201)
    file = tmp_path / "c.json"
    file.write_bytes(lab.as_("polyvorm").get(f"/certificates/{cert['id']}.json").data)
    ok(reviewer.post(f"/samples/{sample}/invalidate", json={"reason": REASON}))
    day = ok(lab.client.get(f"/api/v1/public/certificates/{cert['number']}"))["withdrawn_on"]

    result = CliRunner().invoke(certificate, ["verify", str(file), "--url", live_server])
    assert result.exit_code == 1
    assert f"INVALID: {cert['number']} is withdrawn on {day} (results invalidated after issue)" in result.output
    assert "Wrong die" not in result.output

    client = lab.client
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/verify").get_data(as_text=True)).group(1)
    page = client.post(
        "/verify", data={"csrf_token": token, "file": (BytesIO(file.read_bytes()), "c.json")},
        content_type="multipart/form-data",
    ).get_data(as_text=True)
    assert "results invalidated after issue" in page and "Wrong die" not in page
    assert re.search(rf"Withdrawn on</dt><dd>{printed_day(day)}<", page)
