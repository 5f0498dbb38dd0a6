"""The whole day of a lab, through the HTTP API: from a lot to a graded, verified sample,
with an audit trail that verifies until someone edits the database behind its back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from lims.cli import main
from lims.kernel import clock
from tests.lims.conftest import PP_LOT, ok

pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)


def _by_method(sample: dict) -> dict[str, dict]:
    """The current (not retracted) analysis per method."""
    return {a["method"]: a for a in sample["analyses"] if a["state"] != "retracted"}


def test_lot_to_graded_sample_with_verifiable_audit_trail(lab, database_url, session_factory):
    tech, reviewer, admin = lab.as_("tech"), lab.as_("reviewer"), lab.as_("admin")
    customer, other_customer = lab.as_("polyvorm"), lab.as_("vezelwerk")

    lot = ok(tech.post("/lots", json=PP_LOT), 201)
    assert lot["line"] == "ntk" and lot["owner"] == "polyvorm"

    registered = ok(
        tech.post(
            "/samples/bulk",
            json={
                "samples": [
                    {"lot": lot["code"], "storage_location": "Rack A1"},
                    {"lot": lot["code"], "description": "retained sample"},
                ]
            },
        ),
        201,
    )["samples"]
    code, retained = registered[0]["sample_id"], registered[1]["sample_id"]
    assert code.startswith("NTK-") and code[-6:].isdigit()
    assert int(retained[-6:]) == int(code[-6:]) + 1

    # A result before the sample is in the lab is refused, with the reason.
    sample = ok(tech.get(f"/samples/{code}"))
    mfr_id = _by_method(sample)["mfr_230_2_16"]["id"]
    refused = tech.post(f"/analyses/{mfr_id}/result", json={"value": 12, "unit": "g/10 min"})
    assert refused.status_code == 409 and "registered" in refused.get_json()["message"]

    with clock.frozen_at(datetime(2026, 3, 3, 7, 0, tzinfo=UTC)):  # before the instruments' runs below
        ok(tech.post(f"/samples/{code}/receive", json={"storage_location": "Rack B2"}))
    ok(tech.post(f"/samples/{retained}/cancel", json={"reason": "kept as retained sample only"}))

    sample = ok(tech.get(f"/samples/{code}"))
    assert sample["state"] == "received" and sample["storage_location"] == "Rack B2"
    an = _by_method(sample)

    # MFR close to grade A's maximum: in spec, but within the guard band.
    mfr = ok(tech.post(f"/analyses/{an['mfr_230_2_16']['id']}/result",
                       json={"value": "15.745", "unit": "g/10 min", "instrument": "MFR-02"}))
    assert mfr["value"] == "15.74"  # ROUND_HALF_EVEN to the method's 2 decimals
    assert mfr["uncertainty"] == "0.79"  # 5 % of 15.74, rounded up
    # Ash below the detection limit.
    ash = ok(tech.post(f"/analyses/{an['ash_3451']['id']}/result", json={"value": "< 0.05", "unit": "%"}))
    assert ash["below_detection_limit"] is True and ash["result"] == "< 0.05"
    assert ash["evaluation"] == "in_spec"
    # PE contamination above even grade C: out of spec (computed, not typed).
    pe = ok(tech.post(f"/analyses/{an['pe_in_pp_11357']['id']}/result", json={"value": 24.0, "unit": "%"}))
    assert pe["evaluation"] == "out_of_spec"
    # Density in a unit the method does not convert is refused, naming the accepted ones; an
    # impossible value is refused too, naming the field.
    wrong = reviewer.post(f"/analyses/{an['density_1183']['id']}/result", json={"value": 56.5, "unit": "lb/ft3"})
    assert wrong.status_code == 422
    assert "'g/cm3' or 'kg/m3'" in str(wrong.get_json()["errors"]["json"]["unit"])
    negative = reviewer.post(f"/analyses/{an['density_1183']['id']}/result", json={"value": -0.905, "unit": "g/cm3"})
    assert negative.status_code == 422 and "value" in negative.get_json()["errors"]["json"]
    # kg/m³ is converted to the method's g/cm3; what was typed is kept.
    density = ok(reviewer.post(f"/analyses/{an['density_1183']['id']}/result", json={"value": 905.1, "unit": "kg/m3"}))
    assert (density["value"], density["entered_value"], density["entered_unit"]) == ("0.905", "905.1", "kg/m3")

    assert ok(tech.get(f"/samples/{code}"))["state"] == "received"  # six more to go
    # The rest of the test plan comes from the instruments' CSV export.
    csv = "\n".join([
        "sample_id,method,value,unit,instrument,measured_at",
        f"{code},moisture_15512,0.031,%,KF-3,2026-03-03T09:10:00+01:00",
        f"{code},tensile_modulus_527,1420,MPa,Z010,2026-03-04T10:00:00+01:00",
        f"{code},charpy_179,4.6,kJ/m2,HIT25P,2026-03-04T11:00:00+01:00",
        f"{code},dsc_tm_11357,163.5,°C,DSC-1,2026-03-03T14:00:00+01:00",
        f"{code},fpv_23900,0.62,bar·cm2/g,FPV-1,2026-03-03T15:00:00+01:00",
        f"{code},colour_l,72.3,1,CM-5,2026-03-03T16:00:00+01:00",
    ])
    imported = ok(tech.post("/imports/results", data=csv.encode(), content_type="text/csv"), 201)
    assert imported["imported"] == 6
    assert ok(tech.get(f"/samples/{code}"))["state"] == "to_be_verified"

    # The PE result is out of spec: the retest opens an OOS investigation. The original stays,
    # retracted.
    new_pe = ok(tech.post(f"/analyses/{pe['id']}/retest", json={"reason": "DSC pan contaminated"}))
    assert new_pe["retest_of"] == pe["id"] and new_pe["state"] == "unassigned"
    oos = ok(reviewer.get(f"/analyses/{pe['id']}/oos"))
    assert (oos["original_state"], oos["original_evaluation"], oos["retest"]) == ("submitted", "out_of_spec", new_pe["id"])
    assert (oos["reason"], oos["opened_by"], oos["exclusion_reason"]) == ("DSC pan contaminated", "tech", "")
    assert ok(tech.get(f"/samples/{code}"))["state"] == "received"
    # The reviewer ran the DSC; the technician enters it.
    ok(tech.post(f"/analyses/{new_pe['id']}/result",
                 json={"value": 3.2, "unit": "%", "instrument": "DSC-1", "analyst": "reviewer"}))

    # Four eyes: the submitter may not verify their own result.
    own = reviewer.post(f"/analyses/{an['density_1183']['id']}/verify")
    assert own.status_code == 409 and "another user" in own.get_json()["message"]
    ok(admin.post(f"/analyses/{an['density_1183']['id']}/verify"))
    for key, analysis in _by_method(ok(tech.get(f"/samples/{code}"))).items():
        if key not in ("density_1183", "pe_in_pp_11357"):
            ok(reviewer.post(f"/analyses/{analysis['id']}/verify"))
    assert ok(tech.get(f"/samples/{code}"))["state"] == "to_be_verified"
    # Four eyes: the analyst may not verify it either.
    own_measurement = reviewer.post(f"/analyses/{new_pe['id']}/verify")
    assert own_measurement.status_code == 409 and "analyst" in own_measurement.get_json()["message"]
    ok(admin.post(f"/analyses/{new_pe['id']}/verify"))

    sample = ok(tech.get(f"/samples/{code}"))
    assert sample["state"] == "verified"
    # Grade A fails on MFR only because of the guard band; B is met everywhere.
    assert sample["grade"] == "B"
    reasons = sample["grade_reasons"]
    assert set(reasons) == {
        "mfr", "density", "ash", "moisture", "tensile_modulus", "charpy_notched", "pe_in_pp",
        "filter_pressure_value", "colour_l",
    }
    assert "fails A" in reasons["mfr"] and "guard band" in reasons["mfr"] and "meets B" in reasons["mfr"]
    assert reasons["ash"].startswith("< 0.05")
    retracted = [a for a in sample["analyses"] if a["state"] == "retracted"]
    assert [a["id"] for a in retracted] == [pe["id"]] and retracted[0]["value"] == "24.0"

    # The customer sees its sample; another customer does not know it exists.
    assert ok(customer.get(f"/samples/{code}"))["grade"] == "B"
    assert other_customer.get(f"/samples/{code}").status_code == 404

    # The audit trail tells the story of this sample and verifies.
    events = ok(admin.get("/audit/events", query_string={"entity_id": code, "page_size": 100}))
    actions = [e["action"] for e in events]
    assert actions == [
        "sample.register", "sample.receive", "sample.to_be_verified", "sample.received",
        "sample.to_be_verified", "sample.verified",
    ]
    analysis_events = ok(admin.get("/audit/events", query_string={"entity_type": "analysis", "page_size": 100}))
    counts = {}
    for e in analysis_events:
        counts[e["action"]] = counts.get(e["action"], 0) + 1
    assert counts == {
        "analysis.submit": 11, "analysis.retest": 1, "analysis.create": 1, "analysis.oos_open": 1, "analysis.verify": 10,
    }
    lot_events = ok(admin.get("/audit/events", query_string={"entity_type": "lot"}))
    assert [(e["action"], e["actor"], e["after"]["code"]) for e in lot_events] == [
        ("lot.create", "tech", lot["code"])
    ]
    assert ok(admin.get("/audit/verify"))["ok"] is True

    cli = CliRunner()
    env = {"RECYCLAB_DATABASE_URL": database_url}
    result = cli.invoke(main, ["audit", "verify"], env=env)
    assert result.exit_code == 0, result.output
    assert "ok" in result.output

    # Someone "corrects" a result in the trail directly in the database.
    target = next(e for e in analysis_events if e["action"] == "analysis.submit")
    with session_factory.begin() as session:
        session.execute(
            text("UPDATE audit_event SET entity_id = :x WHERE seq = :seq"),
            {"x": "999999", "seq": target["seq"]},
        )
    result = cli.invoke(main, ["audit", "verify"], env=env)
    assert result.exit_code == 1
    assert f"event {target['seq']}" in result.output
    report = ok(admin.get("/audit/verify"))
    assert report["ok"] is False and report["broken_seq"] == target["seq"]
