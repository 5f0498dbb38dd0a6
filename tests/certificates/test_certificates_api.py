"""Issuing rules, lot certificates, search, sharing by grant, the public checks and the lab key."""

from __future__ import annotations

import base64
import os
import re
import stat
import threading

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from lims.certificates import issuing, signing
from lims.kernel.clock import utcnow
from lims.kernel.errors import WorkflowError
from lims.kernel.models import Sample
from lims.kernel.models.certificate import Certificate
from lims.kernel.settings import load_settings
from tests.certificates import support
from tests.certificates.conftest import ok, pdf_text
from tests.certificates.support import PP_GRADE_A
from tests.support.postgres import wait_for_lock_waiters


def _certify(lab, sample: str, **extra) -> dict:
    return ok(lab.as_("reviewer").post("/certificates", json={"sample": sample, **extra}), 201)


def test_only_reviewers_certify_verified_samples_and_bad_input_names_the_field(lab):
    lab.lot("L-RULES")
    sample = lab.verified_sample("L-RULES")
    reviewer = lab.as_("reviewer")

    for who in ("tech", "polyvorm"):
        assert lab.as_(who).post("/certificates", json={"sample": sample}).status_code == 403
    both = reviewer.post("/certificates", json={"sample": sample, "lot": "L-RULES"})
    assert both.status_code == 422 and "sample" in both.get_json()["errors"]["json"]
    assert reviewer.post("/certificates", json={}).status_code == 422
    assert reviewer.post("/certificates", json={"sample": "NTK-1999-999999"}).status_code == 404
    unknown = reviewer.post("/certificates", json={"sample": sample, "replaces": "NTK-COA-1999-000001"})
    assert unknown.status_code == 422 and "replaces" in unknown.get_json()["errors"]["json"]

    first = _certify(lab, sample)
    again = reviewer.post("/certificates", json={"sample": sample})
    assert again.status_code == 409 and "certified" in again.get_json()["message"]

    # A valid certificate cannot be replaced: its sample must be invalidated first (7.8.8).
    other = lab.verified_sample("L-RULES")
    clash = reviewer.post("/certificates", json={"sample": other, "replaces": first["number"]})
    assert clash.status_code == 409 and "still valid" in clash.get_json()["message"]
    # The refused requests left nothing behind.
    assert ok(reviewer.get(f"/samples/{other}"))["state"] == "verified"
    assert [c["number"] for c in ok(reviewer.get("/certificates"))] == [first["number"]]


def test_a_lot_certificate_covers_its_verified_samples_once_none_is_in_testing(lab, tmp_path):
    lab.lot("L-LOT")
    s1 = lab.verified_sample("L-LOT")
    s2 = lab.verified_sample("L-LOT", {**PP_GRADE_A, "mfr": "20.00"})  # grade B
    reviewer = lab.as_("reviewer")
    with lab.session_factory.begin() as session:
        from lims.samples import registration as samples

        samples.register_samples(session, support.user(session, "tech"), [samples.SampleRequest(lot="L-LOT")])
    busy = reviewer.post("/certificates", json={"lot": "L-LOT"})
    assert busy.status_code == 409 and "not yet verified" in busy.get_json()["message"]

    with lab.session_factory.begin() as session:
        pending = session.scalar(select(Sample).where(Sample.state == "registered"))
        from lims.samples import workflow

        workflow.cancel(session, support.user(session, "tech"), pending, "bag torn in transport")
    cert = ok(reviewer.post("/certificates", json={"lot": "L-LOT"}), 201)
    assert cert["kind"] == "lot" and cert["samples"] == [s1, s2]
    assert cert["grade"] == "B"  # the lot is as good as its worst sample
    assert {r["sample"] for r in cert["content"]["results"]} == {s1, s2}
    text = " ".join(pdf_text(lab.as_("polyvorm").get(f"/certificates/{cert['id']}.pdf").data, tmp_path).split())
    assert s1 in text and s2 in text and "Grade: B" in text
    # Nothing is left to certify in the lot now.
    assert reviewer.post("/certificates", json={"lot": "L-LOT"}).status_code == 409

    # One sample turns out wrong: the lot certificate is withdrawn; its revision keeps the good
    # sample, drops the invalid one and adds the retest.
    ok(reviewer.post(f"/samples/{s2}/invalidate", json={"reason": "sample from the wrong big bag"}))
    assert ok(reviewer.get(f"/certificates/{cert['id']}"))["status"] == "withdrawn"
    s3 = lab.verified_sample("L-LOT")
    revised = ok(reviewer.post("/certificates", json={"lot": "L-LOT", "replaces": cert["number"]}), 201)
    assert revised["samples"] == [s1, s3] and revised["grade"] == "A"
    assert revised["number"] == cert["number"] + "-R1"



def test_a_lot_certificate_leaves_out_no_certified_sample_and_a_lot_has_one_valid_certificate(lab):
    """A lot is as good as its worst sample. Certifying the off-spec sample on its own first, or
    a second lot certificate for the samples verified after the first, would give the lot a
    better grade than its samples allow, on a certificate beside one that says otherwise."""
    reviewer = lab.as_("reviewer")
    lab.lot("L-PICK")
    lab.verified_sample("L-PICK")
    off_spec = lab.verified_sample("L-PICK", {**PP_GRADE_A, "mfr": "99.00"})
    own = _certify(lab, off_spec)
    assert own["grade"] == "off-spec"
    refused = reviewer.post("/certificates", json={"lot": "L-PICK"})
    assert refused.status_code == 409, refused.get_data(as_text=True)
    assert off_spec in refused.get_json()["message"] and own["number"] in refused.get_json()["message"]

    lab.lot("L-LATER")
    first = lab.verified_sample("L-LATER", {**PP_GRADE_A, "mfr": "20.00"})  # grade B
    lot_cert = ok(reviewer.post("/certificates", json={"lot": "L-LATER"}), 201)
    later = lab.verified_sample("L-LATER")  # grade A
    second = reviewer.post("/certificates", json={"lot": "L-LATER"})
    assert second.status_code == 409, second.get_data(as_text=True)
    assert lot_cert["number"] in second.get_json()["message"] and "amend" in second.get_json()["message"]
    # Nothing was issued or certified by the refusals.
    assert ok(reviewer.get(f"/samples/{later}"))["state"] == "verified"
    assert {c["number"] for c in ok(reviewer.get("/certificates"))} == {own["number"], lot_cert["number"]}
    # Amending the lot's certificate takes the later sample in; the lot keeps its worst grade.
    revised = ok(reviewer.post(f"/certificates/{lot_cert['id']}/amend", json={"reason": "sample added"}), 201)
    assert revised["samples"] == [first, later] and revised["grade"] == "B"

def test_search_filters_and_pages(lab):
    lab.lot("L-SEARCH-1")
    lab.lot("L-SEARCH-2", owner="vezelwerk")
    a = _certify(lab, lab.verified_sample("L-SEARCH-1", description="silo 4 pellets"))
    b = _certify(lab, lab.verified_sample("L-SEARCH-1", {**PP_GRADE_A, "mfr": "20.00"}))
    c = _certify(lab, lab.verified_sample("L-SEARCH-2"))
    staff, customer = lab.as_("reviewer"), lab.as_("polyvorm")

    def numbers(caller, **query):
        return [x["number"] for x in ok(caller.get("/certificates", query_string=query))]

    assert numbers(staff) == [c["number"], b["number"], a["number"]]
    assert numbers(customer) == [b["number"], a["number"]]
    assert numbers(customer, grade="B") == [b["number"]]
    assert numbers(staff, lot="L-SEARCH-2") == [c["number"]]
    assert numbers(customer, lot="L-SEARCH-2") == []
    assert numbers(customer, material="pp", line="ntk") == [b["number"], a["number"]]
    assert numbers(customer, material="pe-hd") == []
    assert numbers(customer, q="SILO 4") == [a["number"]]
    assert numbers(customer, q="polyvorm") == [b["number"], a["number"]]
    assert numbers(customer, q="%") == []  # wildcards are taken literally
    assert numbers(customer, status="withdrawn") == []
    # A sample ID as a buyer types it off a delivery note (the portal upper-cased it, the API did not).
    assert numbers(customer, sample=f" {a['samples'][0].lower()} ") == [a["number"]]
    issued = a["issued_at"]
    assert numbers(customer, issued_from=issued) == [b["number"], a["number"]]
    assert numbers(customer, issued_to=issued) == []
    bad = customer.get("/certificates", query_string={"issued_from": "2026-01-01T00:00:00"})
    assert bad.status_code == 422 and "issued_from" in bad.get_json()["errors"]["query"]

    first = customer.get("/certificates", query_string={"page_size": 1})
    assert [x["number"] for x in first.get_json()] == [b["number"]]
    assert '"total": 2' in first.headers["X-Pagination"]


def test_a_grant_shares_one_certificate_with_a_buyer_and_follows_its_revisions(lab):
    lab.lot("L-GRANT")
    sample = lab.verified_sample("L-GRANT")
    cert = _certify(lab, sample)
    admin, buyer = lab.as_("admin"), lab.as_("buyer")
    assert buyer.get(f"/certificates/{cert['id']}.pdf").status_code == 404

    for who in ("reviewer", "polyvorm"):
        refused = lab.as_(who).post(f"/certificates/{cert['id']}/grants", json={"organization": "kunststofkringloop"})
        assert refused.status_code == 403
    assert admin.post(f"/certificates/{cert['id']}/grants", json={"organization": "nope"}).status_code == 422
    assert admin.post(f"/certificates/{cert['id']}/grants", json={"organization": "polyvorm"}).status_code == 422
    grant = ok(admin.post(f"/certificates/{cert['id']}/grants", json={"organization": "kunststofkringloop"}), 201)
    assert grant["organization"] == "kunststofkringloop"

    assert [c["number"] for c in ok(buyer.get("/certificates"))] == [cert["number"]]
    assert buyer.get(f"/certificates/{cert['id']}.json").status_code == 200
    assert lab.as_("vezelwerk").get(f"/certificates/{cert['id']}").status_code == 404

    # The revision that replaces a shared certificate is shared with the same buyer.
    revised = ok(lab.as_("reviewer").post(f"/certificates/{cert['id']}/amend", json={"reason": "label mix-up"}), 201)
    assert [c["number"] for c in ok(buyer.get("/certificates"))] == [revised["number"], cert["number"]]

    assert admin.delete(f"/certificates/{cert['id']}/grants/kunststofkringloop").status_code == 204
    assert buyer.get(f"/certificates/{cert['id']}").status_code == 404
    assert admin.delete(f"/certificates/{cert['id']}/grants/kunststofkringloop").status_code == 404


def test_taking_a_share_back_takes_back_the_revisions_it_followed_to(lab):
    """A share follows the certificate's revisions; taking it back did not: the buyer the owner
    no longer wanted reading its certificates kept reading the revision in force, results and
    all, while the lab's page of the certificate it had shared said it was no longer shared."""
    lab.lot("L-GRANT-BACK")
    cert = _certify(lab, lab.verified_sample("L-GRANT-BACK"))
    admin, buyer = lab.as_("admin"), lab.as_("buyer")
    ok(admin.post(f"/certificates/{cert['id']}/grants", json={"organization": "kunststofkringloop"}), 201)
    r1 = ok(lab.as_("reviewer").post(f"/certificates/{cert['id']}/amend", json={"reason": "address"}), 201)
    r2 = ok(lab.as_("reviewer").post(f"/certificates/{r1['id']}/amend", json={"reason": "typo"}), 201)

    # Taken back from the middle revision: from it and what replaced it, not from what came before.
    assert admin.delete(f"/certificates/{r1['id']}/grants/kunststofkringloop").status_code == 204
    assert [c["number"] for c in ok(buyer.get("/certificates"))] == [cert["number"]]
    for gone in (r1, r2):
        assert buyer.get(f"/certificates/{gone['id']}.pdf").status_code == 404
        assert ok(admin.get(f"/certificates/{gone['id']}/grants")) == []
    assert admin.delete(f"/certificates/{cert['id']}/grants/kunststofkringloop").status_code == 204
    assert ok(buyer.get("/certificates")) == []


def test_sharing_a_certificate_after_its_amendment_shares_the_revision_in_force_too(lab):
    """The lab shares the certificate number on the buyer's delivery note, issued before an
    amendment. The buyer reads that certificate (superseded, 'current revision: -R1') and the
    revision in force it is sent to; before, only a share made before the amendment followed
    it, and the buyer was sent to a revision it could not open (404)."""
    lab.lot("L-GRANT-LATE")
    cert = _certify(lab, lab.verified_sample("L-GRANT-LATE"))
    r1 = ok(lab.as_("reviewer").post(f"/certificates/{cert['id']}/amend", json={"reason": "address"}), 201)
    admin, buyer = lab.as_("admin"), lab.as_("buyer")
    ok(admin.post(f"/certificates/{cert['id']}/grants", json={"organization": "kunststofkringloop"}), 201)

    assert [c["number"] for c in ok(buyer.get("/certificates"))] == [r1["number"], cert["number"]]
    assert buyer.get(f"/certificates/{r1['id']}.pdf").status_code == 200
    assert [g["organization"] for g in ok(admin.get(f"/certificates/{r1['id']}/grants"))] == ["kunststofkringloop"]
    # Another customer still reads neither.
    assert ok(lab.as_("vezelwerk").get("/certificates")) == []


def test_a_buyer_does_not_learn_who_else_a_certificate_is_shared_with(lab):
    """Who a certificate is shared with is the lab's to know (GET .../grants): a buyer reading
    the certificate must not find the other buyers in it, nor the owner its business partners."""
    lab.lot("L-TWO-BUYERS")
    cert = _certify(lab, lab.verified_sample("L-TWO-BUYERS"))
    admin = lab.as_("admin")
    for buyer in ("kunststofkringloop", "vezelwerk"):
        ok(admin.post(f"/certificates/{cert['id']}/grants", json={"organization": buyer}), 201)
    assert [g["organization"] for g in ok(admin.get(f"/certificates/{cert['id']}/grants"))] == [
        "kunststofkringloop", "vezelwerk"
    ]
    for customer, other in (("vezelwerk", "kunststofkringloop"), ("buyer", "vezelwerk"), ("polyvorm", "vezelwerk")):
        caller = lab.as_(customer)
        assert caller.get(f"/certificates/{cert['id']}/grants").status_code == 403
        for read in (f"/certificates/{cert['id']}", "/certificates"):
            answer = caller.get(read)
            assert answer.status_code == 200 and other not in answer.get_data(as_text=True), (customer, read)


def test_public_checks_show_the_summary_only(lab, client):
    lab.lot("L-PUBLIC")
    cert = _certify(lab, lab.verified_sample("L-PUBLIC"))
    number = cert["number"]

    assert client.get("/api/v1/public/certificates/NTK-COA-1999-000001").status_code == 404
    page = client.get("/verify/NTK-COA-1999-000001")
    assert page.status_code == 404 and "No certificate with this number" in page.get_data(as_text=True)

    wrong = ok(client.get(f"/api/v1/public/certificates/{number}", query_string={"hash": "sha256:00"}))
    assert wrong["hash_matches"] is False and wrong["status"] == "valid"
    assert set(wrong) >= {"number", "material", "grade", "issued_on", "laboratory"}
    assert "does NOT match" in client.get(f"/verify/{number}?hash=sha256:00").get_data(as_text=True)
    bare = cert["content_hash"].removeprefix("sha256:").upper()
    assert ok(client.get(f"/api/v1/public/certificates/{number}", query_string={"hash": bare}))["hash_matches"]

    check = "/api/v1/public/certificates/verify"
    for junk in (b"not json", b"\xff\xfe", b"[]", b'{"format": "recyclab-certificate/1"}', b"{}"):
        result = ok(client.post(check, data=junk, content_type="application/json"))
        assert not result["valid"] and result["reason"].startswith("malformed")
    assert client.post(check, data=b"", content_type="application/json").status_code == 422
    huge = b" " * (600 * 1024)
    assert client.post(check, data=huge, content_type="application/json").status_code == 413

    signed = lab.as_("polyvorm").get(f"/certificates/{cert['id']}.json").data
    from io import BytesIO

    multipart = ok(client.post(check, data={"file": (BytesIO(signed), "c.json")}, content_type="multipart/form-data"))
    assert multipart["valid"] and multipart["certificate"]["number"] == number

    # The same check as a page, for people (the form carries a CSRF token like every form).
    form = client.get("/verify").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    shown = client.post(
        "/verify", data={"csrf_token": token, "file": (BytesIO(signed), "c.json")}, content_type="multipart/form-data"
    )
    assert shown.status_code == 200 and "Genuine and valid." in shown.get_data(as_text=True)


def test_a_file_signed_with_another_key_is_refused_even_with_a_valid_signature(lab, client, tmp_path):
    lab.lot("L-FORGE")
    cert = _certify(lab, lab.verified_sample("L-FORGE"))
    signed = lab.as_("polyvorm").get(f"/certificates/{cert['id']}.json").get_json()
    # A forger re-signs altered content with a key of their own.
    forged_key = signing.create_key(tmp_path / "forger.pem", utcnow(), "Forger")
    from lims.certificates import document

    def forge(kid: str) -> dict:
        content = {**signed["certificate"], "grade": "A+", "key_id": kid}
        canonical = signing.canonical(content)
        forged = document.to_bytes(
            document.envelope(content, signing.content_hash(canonical), signing.sign(forged_key, canonical), kid)
        )
        return ok(client.post("/api/v1/public/certificates/verify", data=forged, content_type="application/json"))

    own_kid = signing.key_id(forged_key.public_key())
    result = forge(own_kid)
    assert not result["valid"] and not result["signature_valid"]
    assert f"signed with key {own_kid}, which is not among the lab's published keys" in result["reason"]
    # Naming the lab's key does not help: the signature does not verify with it.
    result = forge(cert["key_id"])
    assert not result["valid"] and "does not verify" in result["reason"]


def test_the_lab_key_is_private_and_can_come_from_a_file(app, client, tmp_path):
    settings = app.config["RECYCLAB"]
    pem = client.get("/.well-known/recyclab-signing-key.pem").data
    path = signing.key_path(settings)
    assert path.parent == settings.var_dir / "keys"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert client.get("/.well-known/recyclab-signing-key.pem").data == pem  # not regenerated
    public = signing.load_public_pem(pem)
    jwk = client.get("/.well-known/recyclab-signing-key.json").get_json()["keys"][0]
    raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
    assert raw == public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519"

    own = tmp_path / "hsm-export.pem"
    key = signing.create_key(own, utcnow(), "Lab")
    configured = load_settings({"var_dir": tmp_path / "other", "signing_key_file": str(own)})
    assert signing.key_id(signing.signing_key(configured).public_key()) == signing.key_id(key.public_key())


def test_two_reviewers_certifying_one_sample_at_once_make_one_certificate(lab, app, session_factory, database_url):
    """PostgreSQL row locks: the second waits for the first and then finds the sample certified."""
    lab.lot("L-RACE")
    code = lab.verified_sample("L-RACE")
    issuer = issuing.Issuer.from_settings(app.config["RECYCLAB"])
    outcome: dict[str, object] = {}

    def second() -> None:
        with session_factory() as session:
            sample = session.scalar(select(Sample).where(Sample.code == code))
            try:
                issuing.issue_for_sample(session, issuer, support.user(session, "admin"), sample)
                session.commit()
                outcome["second"] = "issued"
            except WorkflowError as exc:
                session.rollback()
                outcome["second"] = exc.message

    with session_factory() as first:
        sample = first.scalar(select(Sample).where(Sample.code == code))
        issuing.issue_for_sample(first, issuer, support.user(first, "reviewer"), sample)
        racer = threading.Thread(target=second)
        racer.start()
        wait_for_lock_waiters(database_url, 1, "the second reviewer to wait for the sample's row lock")
        first.commit()
    racer.join(timeout=30)
    assert "it is certified" in str(outcome["second"])
    with session_factory() as session:
        assert len(session.scalars(select(Certificate)).all()) == 1


def test_amending_a_certificate_while_a_colleague_invalidates_its_sample_is_no_deadlock(
    lab, app, session_factory, database_url
):
    """Invalidating takes the sample, then its certificates; amending took the certificate, then
    its samples. A reviewer amending while another invalidates (a technician holding the sample
    a moment longer) each held what the other waited for, and PostgreSQL failed one of them. Now
    both queue on the sample: the invalidation goes first, and the amendment is refused with
    why (its certificate is withdrawn)."""
    from lims.certificates import amending
    from lims.permissions import get_sample

    lab.lot("L-DEADLOCK")
    code = lab.verified_sample("L-DEADLOCK")
    cert_id = _certify(lab, code)["id"]
    issuer = issuing.Issuer.from_settings(app.config["RECYCLAB"])
    outcome: dict[str, object] = {}

    def run(name: str, act) -> None:
        with session_factory() as session:
            try:
                act(session)
                session.commit()
                outcome[name] = "done"
            except WorkflowError as exc:
                session.rollback()
                outcome[name] = exc.message
            except Exception as exc:  # noqa: BLE001 - the database's refusal is what the test reports
                session.rollback()
                outcome[name] = repr(exc)[:300]

    def invalidate(session) -> None:
        reviewer = support.user(session, "reviewer")
        sample = get_sample(session, reviewer, code, for_update=True)  # as the API and the page take it
        amending.invalidate_sample(session, reviewer, sample, "balance out of calibration")

    def amend(session) -> None:
        amending.amend(session, issuer, support.user(session, "admin"), session.get(Certificate, cert_id), "address corrected")

    with session_factory() as technician:
        technician.scalar(select(Sample).where(Sample.code == code).with_for_update())
        invalidating = threading.Thread(target=run, args=("invalidate", invalidate))
        invalidating.start()
        wait_for_lock_waiters(database_url, 1, "the invalidation to wait for the sample")
        amending_ = threading.Thread(target=run, args=("amend", amend))
        amending_.start()
        wait_for_lock_waiters(database_url, 2, "the amendment to wait as well")
        technician.commit()
    invalidating.join(timeout=60)
    amending_.join(timeout=60)
    assert outcome["invalidate"] == "done", outcome
    assert "invalid" in str(outcome["amend"]) and "Error" not in str(outcome["amend"]), outcome
    with session_factory() as session:
        assert {c.status for c in session.scalars(select(Certificate))} == {"withdrawn"}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_issue_and_withdraw_on_sqlite(lab):
    lab.lot("L-SQLITE")
    sample = lab.verified_sample("L-SQLITE")
    cert = _certify(lab, sample)
    ok(lab.as_("reviewer").post(f"/samples/{sample}/invalidate", json={"reason": "wrong bag"}))
    status = ok(lab.client.get(f"/api/v1/public/certificates/{cert['number']}"))
    assert status["status"] == "withdrawn" and status["withdrawal_category"] == "results invalidated after issue"
    assert "wrong bag" not in str(status)


def test_openapi_shows_the_public_checks_without_a_token(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert paths["/api/v1/public/certificates/{number}"]["get"]["security"] == []
    assert paths["/api/v1/public/certificates/verify"]["post"]["security"] == []
    assert "security" not in paths["/api/v1/certificates"]["get"]  # the bearer default applies


def test_a_portion_kept_back_without_tests_does_not_hold_back_the_lot_certificate(lab):
    """A partition made only to be stored (no methods) stayed "received" for good, and the lot's
    certificate was refused as long as it existed ("not yet verified")."""
    lab.lot("L-RETAIN")
    code = lab.verified_sample("L-RETAIN")
    tech, reviewer = lab.as_("tech"), lab.as_("reviewer")
    (kept,) = ok(tech.post(f"/samples/{code}/partitions", json={"storage_location": "retain shelf R1"}), 201)["samples"]
    assert kept["state"] == "received" and ok(tech.get(f"/samples/{kept['sample_id']}"))["analyses"] == []
    cert = ok(reviewer.post("/certificates", json={"lot": "L-RETAIN"}), 201)
    assert cert["samples"] == [code]
    assert ok(tech.get(f"/samples/{kept['sample_id']}"))["state"] == "received"


def test_an_upload_naming_its_key_or_number_oddly_gets_a_verdict_not_an_error(lab, client):
    """Someone uploads a made-up certificate file whose hash they computed themselves: its
    content names the signing key by a list, or carries a number no certificate can have (a NUL,
    longer than any number). The check gives its verdict (not genuine) as for any bad file,
    on the API and on the page; before, the first was a server error (500) and the second a
    422 about 'a value that does not fit its column'."""
    lab.lot("L-ODD-UPLOAD")
    cert = _certify(lab, lab.verified_sample("L-ODD-UPLOAD"))
    signed = lab.as_("polyvorm").get(f"/certificates/{cert['id']}.json").get_json()
    from io import BytesIO

    from lims.certificates import document

    def made_up(content_hash: str | None = None, key_beside: str | None = None, **changes) -> bytes:
        content = {**signed["certificate"], **changes}
        digest = content_hash or signing.content_hash(signing.canonical(content))
        return document.to_bytes(document.envelope(content, digest, signed["signature"]["value"], key_beside))

    files = {
        "key named by a list": made_up(key_id=[cert["key_id"]]),
        "key named by an object": made_up(key_id={"kid": cert["key_id"]}),
        "key beside the signature named by a number": made_up(key_id=None, key_beside=7),
        "key named by an empty list": made_up(key_id=[], key_beside=cert["key_id"]),
        "a NUL in the number": made_up(number=cert["number"] + "\x00", content_hash="sha256:00"),
        "a number longer than any": made_up(number="N" * 500),
    }
    form = client.get("/verify").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    for what, raw in files.items():
        result = client.post("/api/v1/public/certificates/verify", data=raw, content_type="application/json")
        assert result.status_code == 200, (what, result.status_code, result.get_data(as_text=True))
        assert not result.get_json()["valid"], what
        page = client.post(
            "/verify", data={"csrf_token": token, "file": (BytesIO(raw), "c.json")}, content_type="multipart/form-data"
        )
        assert page.status_code == 200 and "Genuine and valid" not in page.get_data(as_text=True), what
