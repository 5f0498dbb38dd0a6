"""Issue 12: what a certificate states (ISO/IEC 17025 7.8.2, 7.8.3, 7.8.6) comes from the records
made when it happened, and never claims more than the results show."""

from __future__ import annotations

from tests.certificates.conftest import ok, pdf_text
from tests.certificates.support import PP_GRADE_A

UNITS = {"mfr": "g/10 min", "density": "g/cm3", "ash": "%", "moisture": "%", "tensile_modulus": "MPa",
         "charpy_notched": "kJ/m2", "dsc_tm": "°C", "pe_in_pp": "%", "filter_pressure_value": "bar·cm2/g",
         "colour_l": "1"}
LOT = {
    "code": "L-EXT1-2026-0777",
    "installation": "ntk-ext1",
    "material": "pp",
    "owner": "polyvorm",
    "production_start": "2026-03-02T06:00:00+01:00",
    "production_end": "2026-03-02T14:00:00+01:00",
    "input_stream": "post-industrial",
    "source": "Production scrap, injection moulding",
    "recycled_content_pct": "100",
}


def _certified(lab, sample: dict, receipt: dict, methods: list[str] | None = None) -> dict:
    tech, reviewer = lab.as_("tech"), lab.as_("reviewer")
    if tech.get(f"/lots?q={LOT['code']}").get_json() == []:
        ok(tech.post("/lots", json=LOT), 201)
    body = {"lot": LOT["code"], **sample} | ({"methods": methods} if methods else {})
    code = ok(tech.post("/samples", json=body), 201)["sample_id"]
    ok(tech.post(f"/samples/{code}/receive", json=receipt))
    for a in ok(tech.get(f"/samples/{code}"))["analyses"]:
        ok(tech.post(f"/analyses/{a['id']}/result", json={"value": PP_GRADE_A[a["property"]], "unit": UNITS[a["property"]]}))
        ok(reviewer.post(f"/analyses/{a['id']}/verify"))
    return ok(reviewer.post("/certificates", json={"sample": code}), 201)


def test_sampling_receipt_customer_information_and_method_status_are_stated(lab, tmp_path):
    cert = _certified(
        lab,
        {"sampled_at": "2026-03-01T09:30:00+01:00", "sampled_by": "J. Jansen (NTK sampler)"},
        {"condition": "Big bag intact, pellets dry"},
    )
    content = cert["content"]
    item = content["item"]
    assert content["dates"]["sampling"] == "2026-03-01"  # not the registration date
    assert item["sampling"] == "sampled by J. Jansen (NTK sampler)"
    assert item["condition"] == "Big bag intact, pellets dry"
    assert item["input_stream"] == "pre-consumer"  # EN 15343
    assert item["customer_supplied"] == ["input_stream", "source", "recycled_content_pct"]
    pe = next(r for r in content["results"] if r["property"] == "pe_in_pp")
    assert pe["method"]["origin"] == "in-house"
    assert "ISO 11357-3:2018: in-house method" in pe["notes"][0]
    fpv = next(r for r in content["results"] if r["property"] == "filter_pressure_value")
    assert fpv["method"]["origin"] == "adapted" and "EN ISO 23900-5:2015" in fpv["notes"][0]
    text = " ".join(pdf_text(lab.as_("polyvorm").get(f"/certificates/{cert['id']}.pdf").data, tmp_path).split())
    for expected in (
        "Sampling sampled by J. Jansen (NTK sampler)",
        "Condition on receipt Big bag intact, pellets dry",
        "pre-consumer (customer information)",
        "information supplied by the customer",
        "in-house method",
    ):
        assert expected in text, expected

    by_customer = _certified(lab, {}, {})
    assert by_customer["content"]["item"]["sampling"] == "sampled by the customer"
    assert by_customer["content"]["dates"]["sampling"] == "not recorded"
    assert by_customer["content"]["item"]["condition"] == "not recorded at receipt"


def test_incomplete_plan_and_other_methods_make_no_false_conformity_statement(lab):
    methods = ["mfr_190_2_16", "density_1183", "ash_3451"]
    cert = _certified(lab, {}, {}, methods=methods)
    conformity = cert["content"]["conformity"]
    assert cert["grade"] == conformity["grade"] == "not graded"
    assert "marked 'out'" not in conformity["statement"]
    assert "No statement of conformity" in conformity["statement"]
    assert "not graded: missing" in conformity["statement"] and "mfr (by mfr_230_2_16)" in conformity["statement"]
    mfr = next(r for r in cert["content"]["results"] if r["property"] == "mfr")
    assert mfr["conformity"] == "n/a" and mfr["limit"] is None
    assert "not by mfr_230_2_16" in " ".join(mfr["notes"])
    assert all(r["conformity"] == "n/a" for r in cert["content"]["results"])


def test_the_sampling_plan_and_results_from_an_external_provider_are_identified(lab, tmp_path):
    """7.8.2.1 k) and p): the plan a sample was taken by, and which result a subcontracted lab
    measured (with its report), are on the certificate; a lab's own result is not marked."""
    tech, reviewer = lab.as_("tech"), lab.as_("reviewer")
    if tech.get(f"/lots?q={LOT['code']}").get_json() == []:
        ok(tech.post("/lots", json=LOT), 201)
    plan = "ISO 24153 random sampling, 5 increments of 1 kg from the big bag"
    code = ok(tech.post("/samples", json={"lot": LOT["code"], "sampling_plan": plan}), 201)["sample_id"]
    ok(tech.post(f"/samples/{code}/receive", json={}))
    analyses = ok(tech.get(f"/samples/{code}"))["analyses"]
    for a in analyses:
        body = {"value": PP_GRADE_A[a["property"]], "unit": UNITS[a["property"]]}
        if a["property"] == "ash":
            body |= {"external_provider": "polymeer-analyse", "external_report": "PAC-2026-1187"}
        entered = ok(tech.post(f"/analyses/{a['id']}/result", json=body))
        if a["property"] == "ash":
            assert entered["external_provider"] == "polymeer-analyse"
            assert entered["external_report"] == "PAC-2026-1187"
        ok(reviewer.post(f"/analyses/{a['id']}/verify"))
    cert = ok(reviewer.post("/certificates", json={"sample": code}), 201)
    content = cert["content"]
    assert content["item"]["sampling_plan"] == plan
    ash = next(r for r in content["results"] if r["property"] == "ash")
    assert ash["external_provider"]["name"] == "Polymeer Analyse Centrum B.V."
    assert ash["external_provider"]["report"] == "PAC-2026-1187"
    assert "result from external provider Polymeer Analyse Centrum B.V., report PAC-2026-1187" in ash["notes"]
    own = [r for r in content["results"] if r["property"] != "ash"]
    assert own and all(r["external_provider"] is None for r in own)
    text = " ".join(pdf_text(lab.as_("polyvorm").get(f"/certificates/{cert['id']}.pdf").data, tmp_path).split())
    assert f"Sampling plan {plan}" in text
    assert "external provider Polymeer Analyse Centrum B.V., report PAC-2026-1187" in text

    without = _certified(lab, {}, {})
    assert without["content"]["item"]["sampling_plan"] is None


def test_an_external_result_needs_an_approved_provider_and_its_report(lab):
    tech = lab.as_("tech")
    if tech.get(f"/lots?q={LOT['code']}").get_json() == []:
        ok(tech.post("/lots", json=LOT), 201)
    code = ok(tech.post("/samples", json={"lot": LOT["code"]}), 201)["sample_id"]
    ok(tech.post(f"/samples/{code}/receive", json={}))
    ash = next(a for a in ok(tech.get(f"/samples/{code}"))["analyses"] if a["property"] == "ash")
    body = {"value": "0.8", "unit": "%"}
    for extra, field in (
        ({"external_provider": "polyvorm", "external_report": "X-1"}, "external_provider"),  # a customer
        ({"external_provider": "nobody", "external_report": "X-1"}, "external_provider"),
        ({"external_provider": "polymeer-analyse"}, "external_report"),
        ({"external_report": "X-1"}, "external_provider"),
    ):
        answer = tech.post(f"/analyses/{ash['id']}/result", json=body | extra)
        assert answer.status_code == 422, answer.get_json()
        assert field in str(answer.get_json()), (extra, answer.get_json())
    after = next(a for a in ok(tech.get(f"/samples/{code}"))["analyses"] if a["id"] == ash["id"])
    assert after["state"] == "unassigned" and after["value"] is None
