"""Issue 12: retests of verified or out-of-spec results are investigated and listed on the
certificate; a certificate is corrected by amending it (7.8.8), never by another sample."""

from __future__ import annotations

import re

from tests.certificates.conftest import ok, pdf_text
from tests.certificates.support import PP_GRADE_A, password_of


def _analysis(caller, code: str, method: str) -> dict:
    sample = ok(caller.get(f"/samples/{code}"))
    return next(a for a in sample["analyses"] if a["method"] == method and a["state"] != "retracted")


def _retest(lab, code: str, method: str, value: str, unit: str, reason: str) -> tuple[dict, dict]:
    tech, reviewer = lab.as_("tech"), lab.as_("reviewer")
    original = _analysis(tech, code, method)
    new = ok(tech.post(f"/analyses/{original['id']}/retest", json={"reason": reason}))
    ok(tech.post(f"/analyses/{new['id']}/result", json={"value": value, "unit": unit}))
    ok(reviewer.post(f"/analyses/{new['id']}/verify"))
    return original, new


def test_retesting_a_verified_result_opens_an_oos_record_listed_on_the_certificate(lab, tmp_path):
    lab.lot("L-OOS")
    code = lab.verified_sample("L-OOS", {**PP_GRADE_A, "mfr": "16.50"})  # fails A
    original, _ = _retest(lab, code, "mfr_230_2_16", "12.00", "g/10 min", "die not cleaned")
    oos = ok(lab.as_("tech").get(f"/analyses/{original['id']}/oos"))
    assert (oos["original_state"], oos["reason"], oos["opened_by"]) == ("verified", "die not cleaned", "tech")
    assert ok(lab.as_("tech").get(f"/analyses/{original['id']}"))["value"] == "16.50"  # kept

    cert = ok(lab.as_("reviewer").post("/certificates", json={"sample": code}), 201)
    mfr = next(r for r in cert["content"]["results"] if r["property"] == "mfr")
    assert mfr["value"] == "12.00"
    assert [(r["value"], r["was"], r["retest_reason"]) for r in mfr["retests"]] == [
        ("16.50", "verified", "die not cleaned")
    ]
    text = " ".join(pdf_text(lab.as_("polyvorm").get(f"/certificates/{cert['id']}.pdf").data, tmp_path).split())
    assert "earlier result 16.50" in text and "die not cleaned" in text


def test_a_reviewer_may_exclude_an_investigated_result_with_a_reason(lab):
    lab.lot("L-OOS2")
    code = lab.verified_sample("L-OOS2")
    tech, reviewer = lab.as_("tech"), lab.as_("reviewer")
    original = _analysis(tech, code, "ash_3451")
    assert tech.get(f"/analyses/{original['id']}/oos").status_code == 404
    new = ok(tech.post(f"/analyses/{original['id']}/retest", json={"reason": "crucible cracked"}))
    assert tech.post(f"/analyses/{original['id']}/oos/exclusion", json={"reason": "x"}).status_code == 403
    assert reviewer.post(f"/analyses/{original['id']}/oos/exclusion", json={"reason": " "}).status_code == 422
    excluded = ok(reviewer.post(
        f"/analyses/{original['id']}/oos/exclusion", json={"reason": "cracked crucible: invalid test, not a result"}
    ))
    assert excluded["exclusion_reason"].startswith("cracked crucible")
    ok(tech.post(f"/analyses/{new['id']}/result", json={"value": "0.41", "unit": "%"}))
    ok(reviewer.post(f"/analyses/{new['id']}/verify"))
    cert = ok(reviewer.post("/certificates", json={"sample": code}), 201)
    ash = next(r for r in cert["content"]["results"] if r["property"] == "ash")
    assert ash["value"] == "0.41" and ash["retests"] == []



def test_who_asked_for_or_measured_the_retest_does_not_also_exclude_the_original(lab, session_factory):
    """Leaving a result off the certificate after retesting it could be testing until it passes:
    the reviewer who asked for the retest, or measured or entered it, may not also decide that
    the original does not count (four eyes); a second reviewer decides."""
    from sqlalchemy import select

    from lims.kernel.models import OosInvestigation

    lab.lot("L-OOS4")
    tech, reviewer, second = lab.as_("tech"), lab.as_("reviewer"), lab.as_("admin")
    asked = lab.verified_sample("L-OOS4")
    original = _analysis(tech, asked, "ash_3451")
    ok(reviewer.post(f"/analyses/{original['id']}/retest", json={"reason": "crucible cracked"}))
    refused = reviewer.post(f"/analyses/{original['id']}/oos/exclusion", json={"reason": "invalid test"})
    assert refused.status_code == 409, refused.get_data(as_text=True)
    assert "four eyes" in refused.get_json()["message"]

    measured = lab.verified_sample("L-OOS4")
    other = _analysis(tech, measured, "ash_3451")
    retest = ok(tech.post(f"/analyses/{other['id']}/retest", json={"reason": "crucible cracked"}))
    ok(reviewer.post(f"/analyses/{retest['id']}/result", json={"value": "0.41", "unit": "%"}))
    refused = reviewer.post(f"/analyses/{other['id']}/oos/exclusion", json={"reason": "invalid test"})
    assert refused.status_code == 409 and "four eyes" in refused.get_json()["message"]
    with session_factory() as s:
        assert all(o.exclusion_reason == "" and o.excluded_by_id is None for o in s.scalars(select(OosInvestigation)))

    for analysis in (original, other):
        ok(second.post(f"/analyses/{analysis['id']}/oos/exclusion", json={"reason": "cracked crucible: invalid test"}))

    # The other way round: who excluded the original does not then measure or enter its retest.
    later = lab.verified_sample("L-OOS4")
    third = _analysis(tech, later, "ash_3451")
    retest = ok(tech.post(f"/analyses/{third['id']}/retest", json={"reason": "crucible cracked"}))
    ok(reviewer.post(f"/analyses/{third['id']}/oos/exclusion", json={"reason": "cracked crucible: invalid test"}))
    for caller, analyst in ((reviewer, None), (tech, "reviewer")):
        refused = caller.post(
            f"/analyses/{retest['id']}/result", json={"value": "0.41", "unit": "%"} | ({"analyst": analyst} if analyst else {})
        )
        assert refused.status_code == 409 and "four eyes" in refused.get_json()["message"], refused.get_data(as_text=True)
    ok(tech.post(f"/analyses/{retest['id']}/result", json={"value": "0.41", "unit": "%"}))

def test_amending_makes_a_revision_of_the_same_item_and_never_another_sample(lab, client):
    lab.lot("L-AMEND")
    code = lab.verified_sample("L-AMEND")
    reviewer, tech = lab.as_("reviewer"), lab.as_("tech")
    cert = ok(reviewer.post("/certificates", json={"sample": code}), 201)

    # Another sample of the lot may not take its place.
    other = lab.verified_sample("L-AMEND")
    assert tech.post(f"/certificates/{cert['id']}/amend", json={"reason": "typo"}).status_code == 403
    assert reviewer.post(f"/certificates/{cert['id']}/amend", json={"reason": ""}).status_code == 422

    reason = "customer address corrected"
    r1 = ok(reviewer.post(f"/certificates/{cert['id']}/amend", json={"reason": reason}), 201)
    assert r1["number"] == f"{cert['number']}-R1" and r1["samples"] == [code]
    assert r1["content"]["replaces"]["number"] == cert["number"]
    assert reason in r1["content"]["replaces"]["reason"]
    old = ok(client.get(f"/api/v1/public/certificates/{cert['number']}"))
    assert old["status"] == "superseded" and old["superseded_by"] == r1["number"]
    assert ok(reviewer.get(f"/samples/{code}"))["state"] == "certified"  # never "invalid"
    clash = reviewer.post("/certificates", json={"sample": other, "replaces": cert["number"]})
    assert clash.status_code == 409
    clash = reviewer.post(f"/certificates/{cert['id']}/amend", json={"reason": "again"})
    assert clash.status_code == 409 and "already replaced by" in clash.get_json()["message"]

    # A correction of a result: reopen, retest (an OOS record), amend again.
    reopened = ok(reviewer.post(f"/certificates/{r1['id']}/reopen", json={"reason": "MFR die worn"}))
    assert reopened["status"] == "withdrawn"
    assert ok(reviewer.get(f"/samples/{code}"))["state"] == "verified"
    _retest(lab, code, "mfr_230_2_16", "11.80", "g/10 min", "MFR die worn")
    r2 = ok(reviewer.post(f"/certificates/{r1['id']}/amend", json={"reason": "MFR retested"}), 201)
    assert r2["number"] == f"{cert['number']}-R2" and r2["samples"] == [code]
    mfr = next(r for r in r2["content"]["results"] if r["property"] == "mfr")
    assert mfr["value"] == "11.80" and [r["value"] for r in mfr["retests"]] == ["12.00"]
    assert ok(client.get(f"/api/v1/public/certificates/{r1['number']}"))["superseded_by"] == r2["number"]
    assert ok(reviewer.get(f"/samples/{code}"))["state"] == "certified"


def test_the_customer_reads_the_amendment_reason_on_a_reopened_and_corrected_certificate(lab, tmp_path):
    """7.8.8: the revision says why the certificate was changed. The reviewer reopened it to
    retest a result, then amended it saying why; the customer's revision prints that reason, not
    the lab's internal note that an amendment was in progress."""
    lab.lot("L-WHY-R")
    code = lab.verified_sample("L-WHY-R")
    reviewer, customer = lab.as_("reviewer"), lab.as_("polyvorm")
    cert = ok(reviewer.post("/certificates", json={"sample": code}), 201)
    ok(reviewer.post(f"/certificates/{cert['id']}/reopen", json={"reason": "MFR die worn"}))
    _retest(lab, code, "mfr_230_2_16", "11.80", "g/10 min", "MFR die worn")
    reason = "MFR retested with a new die"
    revised = ok(reviewer.post(f"/certificates/{cert['id']}/amend", json={"reason": reason}), 201)

    assert ok(customer.get(f"/certificates/{revised['id']}"))["content"]["replaces"]["reason"] == reason
    text = " ".join(pdf_text(customer.get(f"/certificates/{revised['id']}.pdf").data, tmp_path).split())
    assert f"replaces certificate {cert['number']}" in text and reason in text
    assert "amendment in progress" not in text

    # A reopened lot certificate is not replaced by a new lot certificate without that reason.
    lab.lot("L-WHY-LOT")
    lab.verified_sample("L-WHY-LOT")
    lot_cert = ok(reviewer.post("/certificates", json={"lot": "L-WHY-LOT"}), 201)
    ok(reviewer.post(f"/certificates/{lot_cert['id']}/reopen", json={"reason": "ash crucible cracked"}))
    refused = reviewer.post("/certificates", json={"lot": "L-WHY-LOT", "replaces": lot_cert["number"]})
    assert refused.status_code == 409 and "amend it" in refused.get_json()["message"], refused.get_data(as_text=True)
    revised = ok(reviewer.post(f"/certificates/{lot_cert['id']}/amend", json={"reason": "ash checked"}), 201)
    assert revised["content"]["replaces"]["reason"] == "ash checked"


def test_a_sample_certificate_is_not_replaced_by_another_sample(lab):
    lab.lot("L-UNREL")
    code = lab.verified_sample("L-UNREL")
    reviewer = lab.as_("reviewer")
    cert = ok(reviewer.post("/certificates", json={"sample": code}), 201)
    ok(reviewer.post(f"/samples/{code}/invalidate", json={"reason": "wrong big bag"}))
    other = lab.verified_sample("L-UNREL")
    refused = reviewer.post("/certificates", json={"sample": other, "replaces": cert["number"]})
    assert refused.status_code == 422, refused.get_data(as_text=True)
    assert "amend" in refused.get_json()["errors"]["json"]["replaces"][0]
    assert ok(reviewer.get(f"/samples/{other}"))["state"] == "verified"


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _log_in_as_reviewer(client) -> None:
    token = CSRF.search(client.get("/login").get_data(as_text=True)).group(1)
    login = {"username": "reviewer", "password": password_of("reviewer"), "csrf_token": token}
    assert client.post("/login", data=login).status_code == 302


def test_the_sample_page_amends_the_certificate(lab, client):
    lab.lot("L-WEB")
    code = lab.verified_sample("L-WEB")
    cert = ok(lab.as_("reviewer").post("/certificates", json={"sample": code}), 201)
    _log_in_as_reviewer(client)
    page = client.get(f"/lab/samples/{code}").get_data(as_text=True)
    assert "Amend certificate" in page and "Reopen to correct results" in page
    token = CSRF.search(page).group(1)
    done = client.post(f"/review/samples/{code}/amend", data={"reason": "description corrected", "csrf_token": token})
    assert done.status_code == 302, done.get_data(as_text=True)
    status = ok(client.get(f"/api/v1/public/certificates/{cert['number']}"))
    assert status["status"] == "superseded" and status["superseded_by"] == f"{cert['number']}-R1"


def test_a_reopened_sample_is_certified_again_only_by_amending_the_certificate_it_left(lab):
    """Reopening withdraws a certificate for its correction. Whether that certificate was the
    sample's own or its lot's, no other certificate may take the sample meanwhile: the holder of
    the withdrawn one would never learn of the correction, and the amendment would then put the
    sample on two valid certificates."""
    reviewer = lab.as_("reviewer")
    lab.lot("L-REOPEN-S")
    alone = lab.verified_sample("L-REOPEN-S")
    own = ok(reviewer.post("/certificates", json={"sample": alone}), 201)
    ok(reviewer.post(f"/certificates/{own['id']}/reopen", json={"reason": "MFR die worn"}))
    by_lot = reviewer.post("/certificates", json={"lot": "L-REOPEN-S"})
    assert by_lot.status_code == 409, by_lot.get_data(as_text=True)
    assert own["number"] in by_lot.get_json()["message"] and "amend" in by_lot.get_json()["message"]

    lab.lot("L-REOPEN-L")
    first, second = lab.verified_sample("L-REOPEN-L"), lab.verified_sample("L-REOPEN-L")
    lot_cert = ok(reviewer.post("/certificates", json={"lot": "L-REOPEN-L"}), 201)
    ok(reviewer.post(f"/certificates/{lot_cert['id']}/reopen", json={"reason": "ash crucible cracked"}))
    for item in ({"sample": first}, {"lot": "L-REOPEN-L"}):
        refused = reviewer.post("/certificates", json=item)
        assert refused.status_code == 409, (item, refused.get_data(as_text=True))
        assert lot_cert["number"] in refused.get_json()["message"]
    assert {ok(reviewer.get(f"/samples/{c}"))["state"] for c in (first, second)} == {"verified"}
    # The sample page offers that amendment, not a certificate of the sample's own.
    _log_in_as_reviewer(lab.client)
    page = lab.client.get(f"/lab/samples/{first}").get_data(as_text=True)
    assert f"Issue the amended certificate replacing {lot_cert['number']}" in page

    # The amendments themselves go through, each sample on one valid certificate.
    revised = ok(reviewer.post(f"/certificates/{lot_cert['id']}/amend", json={"reason": "ash retested"}), 201)
    assert revised["number"] == f"{lot_cert['number']}-R1" and revised["samples"] == [first, second]
    assert ok(reviewer.post(f"/certificates/{own['id']}/amend", json={"reason": "MFR checked"}), 201)["samples"] == [alone]
    valid = ok(reviewer.get("/certificates", query_string={"status": "valid"}))
    covering = [code for c in valid for code in c["samples"]]
    assert sorted(covering) == sorted([alone, first, second])


def test_an_amendment_reason_longer_than_the_certificate_takes_is_refused_on_the_page_too(lab, client):
    """The reason is printed on the revision and kept with the withdrawn certificate, whose
    column holds 380 characters after "amended: ". The API refuses a longer one; the sample
    page's form must not print one on a signed certificate that the record then cuts short."""
    lab.lot("L-LONG")
    code = lab.verified_sample("L-LONG")
    cert = ok(lab.as_("reviewer").post("/certificates", json={"sample": code}), 201)
    _log_in_as_reviewer(client)
    token = CSRF.search(client.get(f"/lab/samples/{code}").get_data(as_text=True)).group(1)
    reason = "Customer address corrected after the customer's letter of 2 December. " * 8
    for action in ("amend", "reopen"):
        refused = client.post(f"/review/samples/{code}/{action}", data={"reason": reason, "csrf_token": token})
        assert refused.status_code == 422, (action, refused.status_code)
        assert "at most 380 characters" in refused.get_data(as_text=True)
    assert ok(client.get(f"/api/v1/public/certificates/{cert['number']}"))["status"] == "valid"


DUTCH = {"Accept-Language": "nl-NL,nl;q=0.9"}


def _verdict(client, number: str, headers: dict | None = None) -> str:
    page = client.get(f"/verify/{number}", headers=headers or {}).get_data(as_text=True)
    return " ".join(re.search(r'<p class="verdict[^"]*">(.*?)</p>', page, re.S).group(1).split())


def _certified(lab, lot: str) -> tuple[str, dict]:
    """A new verified sample of the lot and the certificate the reviewer issues for it."""
    code = lab.verified_sample(lot)
    return code, ok(lab.as_("reviewer").post("/certificates", json={"sample": code}), 201)


def _public_says(client, number: str, category: str, english: str, dutch: str) -> dict:
    """The public status API's category, and the verify page's verdict in English and Dutch."""
    status = ok(client.get(f"/api/v1/public/certificates/{number}"))
    assert status["withdrawal_category"] == category
    assert english in _verdict(client, number) and dutch in _verdict(client, number, DUTCH)
    return status


def test_the_verify_page_tells_a_manufacturer_why_a_certificate_was_withdrawn(lab, client):
    """A certificate reopened for a correction was not invalidated: its holder is told a
    corrected revision is on its way, then which revision replaced it; only a certificate whose
    sample was invalidated is said to have invalidated results."""
    lab.lot("L-WHY")
    reviewer = lab.as_("reviewer")
    code, cert = _certified(lab, "L-WHY")
    ok(reviewer.post(f"/certificates/{cert['id']}/reopen", json={"reason": "MFR die worn"}))
    _public_says(
        client, cert["number"], "withdrawn pending a corrected revision",
        "pending a corrected revision", "in afwachting van een gecorrigeerde herziening",
    )
    assert "invalid" not in _verdict(client, cert["number"])

    _retest(lab, code, "mfr_230_2_16", "11.80", "g/10 min", "MFR die worn")
    revised = ok(reviewer.post(f"/certificates/{cert['id']}/amend", json={"reason": "MFR retested"}), 201)
    replaced = _public_says(
        client, cert["number"], "replaced by a revised certificate", revised["number"], "vervangen door"
    )
    assert replaced["superseded_by"] == revised["number"]

    other, invalid = _certified(lab, "L-WHY")
    ok(reviewer.post(f"/samples/{other}/invalidate", json={"reason": "sample from the wrong big bag"}))
    _public_says(
        client, invalid["number"], "results invalidated after issue",
        "results invalidated after issue", "resultaten na uitgifte ongeldig verklaard",
    )


def test_an_old_revision_uploaded_names_the_revision_in_force_not_the_next_one(lab, client):
    """A manufacturer checks the file of the first issue of a certificate amended twice: it is
    told the current revision is -R2, not -R1 (itself superseded). Once -R2 is withdrawn too,
    no revision is called current: the check says the latest revision is withdrawn and why."""
    lab.lot("L-CHAIN")
    reviewer = lab.as_("reviewer")
    code, cert = _certified(lab, "L-CHAIN")
    first_file = lab.as_("polyvorm").get(f"/certificates/{cert['id']}.json").data
    r1 = ok(reviewer.post(f"/certificates/{cert['id']}/amend", json={"reason": "address corrected"}), 201)
    r2 = ok(reviewer.post(f"/certificates/{r1['id']}/amend", json={"reason": "postcode corrected"}), 201)

    def check() -> dict:
        return ok(client.post("/api/v1/public/certificates/verify", data=first_file, content_type="application/json"))

    result = check()
    assert not result["valid"] and f"current revision: {r2['number']}" in result["reason"], result["reason"]
    status = ok(client.get(f"/api/v1/public/certificates/{cert['number']}"))
    assert status["superseded_by"] == r1["number"] and status["current_revision"] == r2["number"]
    # The verify page the QR code opens says so too, not only "replaced by -R1".
    page = " ".join(client.get(f"/verify/{cert['number']}").get_data(as_text=True).split())
    assert f'The revision in force is <a href="/verify/{r2["number"]}">{r2["number"]}</a>' in page, page

    ok(reviewer.post(f"/samples/{code}/invalidate", json={"reason": "sample from the wrong big bag"}))
    result = check()
    assert "current revision" not in result["reason"], result["reason"]
    assert (
        f"latest revision {r2['number']} is withdrawn: results invalidated after issue" in result["reason"]
    ), result["reason"]
    assert ok(client.get(f"/api/v1/public/certificates/{cert['number']}"))["current_revision"] is None
    assert "its latest revision was withdrawn too" in client.get(f"/verify/{cert['number']}").get_data(as_text=True)
    # The verify page says it in Dutch too.
    from io import BytesIO

    form = client.get("/verify", headers=DUTCH).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    page = client.post(
        "/verify", data={"csrf_token": token, "file": (BytesIO(first_file), "c.json")},
        content_type="multipart/form-data", headers=DUTCH,
    ).get_data(as_text=True)
    assert f"de laatste revisie {r2['number']} is" in page
