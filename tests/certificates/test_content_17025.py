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
