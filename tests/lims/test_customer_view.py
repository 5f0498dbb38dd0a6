"""What a manufacturer sees of its own samples: like a client of a mature LIMS, only released
(verified) results, the status of the rest without values, and nothing of the lab's working
records (who measured or verified, retraction reasons, where the sample is stored)."""

from __future__ import annotations

from tests.lims.conftest import analyses_by_method, ok, register

# What a lab record holds that a customer never reads.
STAFF_ONLY = {"analyst", "submitted_by", "submitted_at", "verified_by", "retract_reason", "retest_of", "instrument"}
UNRELEASED = {"value": None, "result": None, "uncertainty": None, "evaluation": None, "unit": None}


def _story(lab) -> dict:
    """A technician enters three results; the reviewer verifies one, retracts one and leaves the
    third waiting."""
    tech, reviewer = lab.as_("tech"), lab.as_("reviewer")
    sample = register(tech, methods=["ash_3451", "mfr_230_2_16", "density_1183"], storage_location="Rack Q7")
    code, ids = sample["sample_id"], analyses_by_method(sample)
    ok(tech.post(f"/analyses/{ids['ash_3451']}/result", json={"value": "0.42", "unit": "%", "instrument": "ASH-01"}))
    ok(reviewer.post(f"/analyses/{ids['ash_3451']}/verify"))
    ok(tech.post(f"/analyses/{ids['mfr_230_2_16']}/result", json={"value": "31.7", "unit": "g/10 min"}))
    replacement = ok(reviewer.post(f"/analyses/{ids['mfr_230_2_16']}/retract", json={"reason": "die blocked, Tim to clean"}))
    ok(tech.post(f"/analyses/{ids['density_1183']}/result", json={"value": "0.911", "unit": "g/cm3"}))
    return {"code": code, **ids, "mfr_retest": replacement["id"]}


def test_a_customer_reads_released_results_only_and_no_lab_records(lab):
    story = _story(lab)
    code, customer, tech = story["code"], lab.as_("polyvorm"), lab.as_("tech")

    detail = ok(customer.get(f"/samples/{code}"))
    listed = ok(customer.get("/analyses", query_string={"sample": code}))
    for analyses in (detail["analyses"], listed):
        by_method = {a["method"]: a for a in analyses}
        # The retracted MFR (and its reason) is gone; its open replacement shows its state only.
        assert sorted(a["id"] for a in analyses) == sorted(
            [story["ash_3451"], story["density_1183"], story["mfr_retest"]]
        )
        assert by_method["ash_3451"]["result"] == "0.42" and by_method["ash_3451"]["evaluation"] == "in_spec"
        density = by_method["density_1183"]
        assert density["state"] == "submitted" and {k: density[k] for k in UNRELEASED} == UNRELEASED
        assert by_method["mfr_230_2_16"]["state"] == "unassigned"
        for a in analyses:
            assert not STAFF_ONLY & a.keys(), a
    # The retracted MFR's value nowhere among the results (a substring test of the whole answer
    # also matched a time's seconds, "…:31.7…").
    shown = [str(a.get(k)) for a in detail["analyses"] for k in ("result", "value", "entered_value")]
    assert not any(v.startswith("31.7") for v in shown), shown
    assert "storage_location" not in detail and "die blocked" not in str(detail)
    assert ok(customer.get(f"/analyses/{story['density_1183']}"))["value"] is None
    for hidden in (f"/analyses/{story['mfr_230_2_16']}", f"/analyses/{story['mfr_230_2_16']}/oos"):
        assert customer.get(hidden).status_code == 404, hidden
    # Where the sample is stored cannot be found by searching for it either.
    assert ok(customer.get("/samples", query_string={"q": "Rack Q7"})) == []
    assert [s["sample_id"] for s in ok(customer.get("/samples"))] == [code]
    assert "storage_location" not in ok(customer.get("/samples"))[0]

    # The lab sees everything, as before.
    staff = ok(tech.get(f"/samples/{code}"))
    assert staff["storage_location"] == "Rack Q7"
    by_id = {a["id"]: a for a in staff["analyses"]}
    assert by_id[story["mfr_230_2_16"]]["retract_reason"] == "retract: die blocked, Tim to clean"
    assert by_id[story["density_1183"]]["value"] == "0.911" and by_id[story["ash_3451"]]["analyst"] == "tech"
    assert by_id[story["ash_3451"]]["verified_by"] == "reviewer"
    assert [s["sample_id"] for s in ok(tech.get("/samples", query_string={"q": "Rack Q7"}))] == [code]


def test_a_customer_does_not_print_the_lab_label(lab):
    """The label carries the storage location: it is the lab's, not the customer's."""
    code = _story(lab)["code"]
    assert lab.as_("polyvorm").get(f"/samples/{code}/label").status_code == 403
    assert lab.as_("tech").get(f"/samples/{code}/label").status_code == 200


def test_results_of_an_invalidated_sample_are_withdrawn_from_the_customer(lab):
    tech, reviewer, customer = lab.as_("tech"), lab.as_("reviewer"), lab.as_("polyvorm")
    sample = register(tech, methods=["ash_3451"])
    code, ash = sample["sample_id"], analyses_by_method(sample)["ash_3451"]
    ok(tech.post(f"/analyses/{ash}/result", json={"value": "0.42", "unit": "%"}))
    ok(reviewer.post(f"/analyses/{ash}/verify"))
    assert ok(customer.get(f"/samples/{code}"))["grade"] is not None
    ok(reviewer.post("/certificates", json={"sample": code}), 201)
    ok(reviewer.post(f"/samples/{code}/invalidate", json={"reason": "bag mixed up with lot 41"}))

    seen = ok(customer.get(f"/samples/{code}"))
    assert seen["state"] == "invalid" and seen["grade"] is None and seen["grade_reasons"] is None
    assert seen["analyses"][0]["value"] is None and "0.42" not in str(seen)
    assert "bag mixed up" not in str(seen)
    assert ok(customer.get(f"/analyses/{ash}"))["result"] is None
    assert ok(tech.get(f"/analyses/{ash}"))["result"] == "0.42"


def test_a_customer_cannot_find_its_samples_by_the_lab_s_notes_on_them(lab):
    """The lab's reasons for invalidating, cancelling or rejecting a sample are kept after its
    description and never shown to the customer: searching for them must not confirm a guess."""
    tech, reviewer, customer = lab.as_("tech"), lab.as_("reviewer"), lab.as_("polyvorm")
    sample = register(tech, methods=["ash_3451"], description="silo 4 pellets")
    code, ash = sample["sample_id"], analyses_by_method(sample)["ash_3451"]
    ok(tech.post(f"/analyses/{ash}/result", json={"value": "0.42", "unit": "%"}))
    ok(reviewer.post(f"/analyses/{ash}/verify"))
    ok(reviewer.post("/certificates", json={"sample": code}), 201)
    ok(reviewer.post(f"/samples/{code}/invalidate", json={"reason": "bag mixed up with lot 41"}))
    cancelled = register(tech, receive=False, description="silo 5 pellets")["sample_id"]
    ok(tech.post(f"/samples/{cancelled}/cancel", json={"reason": "bag torn in transport"}))

    def found(caller, text: str) -> list[str]:
        return [s["sample_id"] for s in ok(caller.get("/samples", query_string={"q": text}))]

    for note in ("bag mixed up", "invalidated", "bag torn", "cancelled:", "|"):
        assert found(customer, note) == [], note
    assert found(customer, "silo 4") == [code] and found(customer, "silo 5") == [cancelled]
    assert found(tech, "bag mixed up") == [code] and found(tech, "bag torn") == [cancelled]


def test_a_customer_reads_the_installations_but_not_their_process_sensors_and_alarm_limits(lab):
    """The installation is named on the certificate; how the lab runs and guards it is the lab's."""
    customer, engineer = lab.as_("polyvorm"), lab.as_("engineer")
    for path in ("/installations", "/installations/ntk-ext1"):
        seen = ok(customer.get(path))
        for installation in seen if isinstance(seen, list) else [seen]:
            assert installation["name"] and "sensors" not in installation, path
    assert ok(engineer.get("/installations/ntk-ext1"))["sensors"][0]["alarm_high"] is not None


def test_a_customer_does_not_read_the_labs_grade_prediction_of_its_lot(lab, session_factory):
    """The model's prediction is the lab's working estimate, drawn from the process readings
    of its pilot line (its top features are sensor statistics): not a result, and not the
    customer's to read, whether asked by the lot or by a sample of it."""
    from lims.kernel.models.analytics import Prediction
    from tests.support.models import version_without_artifact

    tech, customer = lab.as_("tech"), lab.as_("polyvorm")
    sample = register(tech, methods=["ash_3451"])
    code, lot_id = sample["sample_id"], ok(customer.get("/lots"))[0]["id"]
    with session_factory.begin() as s:
        mv = version_without_artifact("grade-x", ["A", "B"], status="production")
        s.add(mv)
        s.flush()
        s.add(Prediction(
            lot_id=lot_id, model_version_id=mv.id, predicted_grade="B", probabilities={"A": 0.3, "B": 0.7},
            top_features=[{"feature": "ntk-ext1:melt_temp_c:mean", "value": 231.4, "material_median": 225.0,
                           "contribution": 0.12}],
        ))

    for path in (f"/lots/{lot_id}/prediction", f"/samples/{code}/prediction"):
        refused = customer.get(path)
        assert refused.status_code == 403, (path, refused.get_json())
        assert "231.4" not in refused.get_data(as_text=True)
        assert ok(tech.get(path))["predicted_grade"] == "B"
    # Nor does it ask the model for one.
    assert customer.post(f"/lots/{lot_id}/prediction", json={}).status_code == 403
