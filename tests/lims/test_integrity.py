"""Issue 12: the ways around the four-eyes rule and the decision rule, closed."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from analytics.simulator import lims_entry
from lims.kernel.clock import utcnow
from lims.kernel.errors import Forbidden
from lims.kernel.models import Analysis, ApiToken, Lot
from tests.lims.conftest import PP_LOT, analyses_by_method, ok, register

CSV_HEADER = "sample_id,method,value,unit,uncertainty,instrument,analyst,measured_at"


def _csv(rows: list[str]):
    return {"file": (io.BytesIO("\n".join([CSV_HEADER, *rows]).encode()), "run.csv")}


def test_the_analyst_named_by_the_submitter_cannot_verify(lab, session_factory):
    tech, reviewer, admin = lab.as_("tech"), lab.as_("reviewer"), lab.as_("admin")
    sample = register(tech, methods=["mfr_230_2_16", "ash_3451"])
    ids = analyses_by_method(sample)
    ok(tech.post(f"/analyses/{ids['mfr_230_2_16']}/result", json={"value": 12, "unit": "g/10 min", "analyst": "reviewer"}))
    ok(tech.post("/imports/results", data=_csv([f"{sample['sample_id']},ash_3451,0.8,%,,,reviewer,"])), 201)
    for analysis_id in ids.values():
        refused = reviewer.post(f"/analyses/{analysis_id}/verify")
        assert refused.status_code == 409, refused.get_data(as_text=True)
        assert "four eyes" in refused.get_json()["message"] and "analyst" in refused.get_json()["message"]
        # The submitter may not verify either; a third person may.
        assert tech.post(f"/analyses/{analysis_id}/verify").status_code == 403  # a technician
        ok(admin.post(f"/analyses/{analysis_id}/verify"))


def test_an_admin_cannot_mint_a_token_for_someone_else(lab, session_factory):
    admin = lab.as_("admin")
    with session_factory() as s:
        before = s.scalar(select(func.count()).select_from(ApiToken))
    refused = admin.post("/tokens", json={"name": "as tech", "user": "tech"})
    assert refused.status_code == 403, refused.get_data(as_text=True)
    assert "owner" in refused.get_json()["message"]
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(ApiToken)) == before
    # Revoking someone else's token stays an admin's right.
    tech_token = ok(lab.as_("tech").post("/tokens", json={"name": "balance PC"}), 201)
    assert admin.delete(f"/tokens/{tech_token['id']}").status_code == 204
    with session_factory() as s:
        assert s.get(ApiToken, tech_token["id"]).revoked_at is not None


def test_asking_for_someone_elses_token_does_not_tell_whether_they_exist(lab):
    """The users API answers a customer "not found" for any other name without looking it up;
    asking for a token for another user must not become the oracle that tells staff accounts
    from made-up names."""
    customer = lab.as_("polyvorm")
    answers = {
        name: customer.post("/tokens", json={"name": "probe", "user": name})
        for name in ("reviewer", "admin", "no-such-user")
    }
    assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(answers, 403)
    messages = {r.get_json()["message"].replace(name, "NAME") for name, r in answers.items()}
    assert len(messages) == 1, messages
    assert ok(customer.post("/tokens", json={"name": "mine", "user": "polyvorm"}), 201)["user"] == "polyvorm"


PP_PLAN = {
    "mfr_230_2_16": ("12.00", "g/10 min"),
    "density_1183": ("0.905", "g/cm3"),
    "ash_3451": ("0.40", "%"),
    "moisture_15512": ("0.020", "%"),
    "tensile_modulus_527": ("1450", "MPa"),
    "charpy_179": ("5.2", "kJ/m2"),
    "dsc_tm_11357": ("164.0", "°C"),
    "pe_in_pp_11357": ("2.0", "%"),
    "fpv_23900": ("0.40", "bar·cm2/g"),
    "colour_l": ("78.0", "1"),
}


def _tested(lab, plan: dict[str, tuple[str, str]], **extra) -> dict:
    """A PP sample with these methods, every result entered by tech and verified by reviewer."""
    tech, reviewer = lab.as_("tech"), lab.as_("reviewer")
    sample = register(tech, methods=list(plan))
    for method, analysis_id in analyses_by_method(sample).items():
        value, unit = plan[method]
        body = {"value": value, "unit": unit, **extra.get(method, {})}
        ok(tech.post(f"/analyses/{analysis_id}/result", json=body))
        ok(reviewer.post(f"/analyses/{analysis_id}/verify"))
    return ok(tech.get(f"/samples/{sample['sample_id']}"))


def test_the_methods_uncertainty_is_the_floor_unless_a_reason_is_documented(lab):
    tech = lab.as_("tech")
    mfr = analyses_by_method(register(tech, methods=["mfr_230_2_16"]))["mfr_230_2_16"]
    refused = tech.post(f"/analyses/{mfr}/result", json={"value": "15.9", "unit": "g/10 min", "uncertainty": "0.1"})
    assert refused.status_code == 422, refused.get_data(as_text=True)
    assert "0.80" in refused.get_json()["errors"]["json"]["uncertainty_reason"][0]
    # No measurement is exact: U = 0 (or "-0", stored as a negative zero) with any reason typed
    # took the guard band away altogether.
    for zero in ("0", "-0", "0.000"):
        refused = tech.post(f"/analyses/{mfr}/result", json={
            "value": "15.9", "unit": "g/10 min", "uncertainty": zero, "uncertainty_reason": "exact"})
        assert refused.status_code == 422, (zero, refused.get_data(as_text=True))
        assert "greater than zero" in refused.get_json()["errors"]["json"]["uncertainty"][0]
    # Without U the method's applies: 15.9 ± 0.80 crosses max 16 (guard band): not grade A.
    plain = _tested(lab, PP_PLAN | {"mfr_230_2_16": ("15.9", "g/10 min")})
    assert plain["grade"] == "B", plain["grade_reasons"]
    reason = "repeatability study RS-2026-07 on this plastometer, n = 30"
    documented = _tested(
        lab,
        PP_PLAN | {"mfr_230_2_16": ("15.9", "g/10 min")},
        mfr_230_2_16={"uncertainty": "0.05", "uncertainty_reason": reason},
    )
    entry = next(a for a in documented["analyses"] if a["method"] == "mfr_230_2_16")
    assert (entry["uncertainty"], entry["uncertainty_reason"]) == ("0.05", reason)
    assert documented["grade"] == "A"


def test_impossible_values_are_refused_naming_the_field(lab, session_factory):
    tech = lab.as_("tech")
    ids = analyses_by_method(register(tech, methods=["density_1183", "tensile_modulus_527", "dsc_tm_11357", "ash_3451"]))
    for method, value, unit in (
        ("density_1183", "-0.905", "g/cm3"),
        ("tensile_modulus_527", "-1450", "MPa"),
        ("dsc_tm_11357", "-300", "°C"),
        ("ash_3451", "-5", "%"),  # never "< DL"
        ("density_1183", "9.05", "g/cm3"),
    ):
        r = tech.post(f"/analyses/{ids[method]}/result", json={"value": value, "unit": unit})
        assert r.status_code == 422, (method, r.get_data(as_text=True))
        assert "plausible" in r.get_json()["errors"]["json"]["value"][0]
    with session_factory() as s:
        assert all(s.get(Analysis, i).state == "unassigned" for i in ids.values())
    # Density in kg/m³ is converted; what was entered is kept.
    entered = ok(tech.post(f"/analyses/{ids['density_1183']}/result", json={"value": "905.4", "unit": "kg/m³"}))
    assert (entered["value"], entered["unit"]) == ("0.905", "g/cm3")
    assert (entered["entered_value"], entered["entered_unit"]) == ("905.4", "kg/m3")


def test_a_result_by_another_method_than_the_specs_is_reported_without_conformity(lab):
    plan = {k: v for k, v in PP_PLAN.items() if k != "mfr_230_2_16"} | {"mfr_190_2_16": ("12.00", "g/10 min")}
    sample = _tested(lab, plan)
    mfr = next(a for a in sample["analyses"] if a["method"] == "mfr_190_2_16")
    assert mfr["evaluation"] is None
    assert sample["grade"] == "not graded"
    assert sample["grade_reasons"]["_"] == "not graded: missing mfr (by mfr_230_2_16)"


def test_an_incomplete_test_plan_is_not_graded_rather_than_failed(lab):
    plan = {k: v for k, v in PP_PLAN.items() if k not in ("charpy_179", "fpv_23900")}
    sample = _tested(lab, plan)
    assert sample["grade"] == "not graded"
    assert sample["grade_reasons"]["_"] == (
        "not graded: missing charpy_notched (by charpy_179), filter_pressure_value (by fpv_23900)"
    )


def test_only_an_active_user_who_may_enter_results_can_be_named_analyst(lab, session_factory):
    """A result is attributed to someone who could have measured it: not a process engineer,
    not a customer, not a colleague whose account was closed; by the API and the import alike."""
    tech, admin = lab.as_("tech"), lab.as_("admin")
    ok(admin.patch("/users/tech2", json={"active": False}))
    sample = register(tech, methods=["mfr_230_2_16"])
    analysis_id = analyses_by_method(sample)["mfr_230_2_16"]
    for name in ("engineer", "polyvorm", "tech2", "nobody"):
        refused = tech.post(f"/analyses/{analysis_id}/result", json={"value": 12, "unit": "g/10 min", "analyst": name})
        assert refused.status_code == 422, (name, refused.get_data(as_text=True))
        assert "analyst" in refused.get_json()["errors"]["json"], name
        imported = tech.post("/imports/results", data=_csv([f"{sample['sample_id']},mfr_230_2_16,12,g/10 min,,,{name},"]))
        assert imported.status_code == 422, (name, imported.get_data(as_text=True))
        assert "analyst" in imported.get_data(as_text=True), name
    with session_factory() as s:
        assert s.get(Analysis, analysis_id).state == "unassigned"
    ok(tech.post(f"/analyses/{analysis_id}/result", json={"value": 12, "unit": "g/10 min", "analyst": "reviewer"}))


def test_an_instrument_name_too_long_is_refused_under_its_field_by_every_way_in(lab, session_factory):
    """The instrument column holds 100 characters. A longer name typed into the API, or
    exported by an instrument into the CSV file, is refused naming the field: never a database
    error, never half a file."""
    tech = lab.as_("tech")
    sample = register(tech, methods=["mfr_230_2_16", "ash_3451"])
    ids = analyses_by_method(sample)
    long_name = "Zwick/Roell Mflow extrusion plastometer serial " + "0123456789" * 6
    code = sample["sample_id"]
    imported = tech.post("/imports/results", data=_csv([
        f"{code},ash_3451,0.8,%,,balance 3,,",
        f"{code},mfr_230_2_16,12,g/10 min,,{long_name},,",
    ]))
    assert imported.status_code == 422, imported.get_data(as_text=True)
    (row,) = imported.get_json()["errors"]["json"]["rows"]
    assert row["row"] == 3 and "instrument" in row["errors"], row
    entered = tech.post(f"/analyses/{ids['mfr_230_2_16']}/result",
                        json={"value": 12, "unit": "g/10 min", "instrument": long_name})
    assert entered.status_code == 422 and "instrument" in entered.get_json()["errors"]["json"]
    with session_factory() as s:
        assert {s.get(Analysis, i).state for i in ids.values()} == {"unassigned"}


def test_an_external_provider_owns_no_lot_and_no_sample(lab, session_factory):
    """A subcontracted lab measures for the lab; it is not a customer. The lot form does not
    offer it as an owner, and no other way in may make it one: its users would read the lot's
    results and certificates."""
    tech = lab.as_("tech")
    lot = {**PP_LOT, "code": "L-PROVIDER", "owner": "polymeer-analyse"}
    refused = tech.post("/lots", json=lot)
    assert refused.status_code == 422, refused.get_data(as_text=True)
    assert "provider" in refused.get_json()["errors"]["json"]["owner"][0]
    loose = tech.post("/samples", json={"material": "pp", "owner": "polymeer-analyse"})
    assert loose.status_code == 422 and "owner" in loose.get_json()["errors"]["json"], loose.get_data(as_text=True)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Lot).where(Lot.code == "L-PROVIDER")) == 0
    ok(tech.post("/lots", json={**lot, "owner": "polyvorm"}), 201)


def test_a_customer_cannot_learn_the_labs_users_by_naming_an_analyst(lab):
    """A customer may read its own results but not enter them. Naming an analyst on its own
    analysis must be refused alike for every name, or the answer tells the lab's active
    analysts from made-up and closed accounts."""
    sample = register(lab.as_("tech"), methods=["mfr_230_2_16"])
    analysis_id = analyses_by_method(sample)["mfr_230_2_16"]
    customer = lab.as_("polyvorm")
    assert ok(customer.get(f"/analyses/{analysis_id}"))["state"] == "unassigned"  # its own
    answers = {
        name: customer.post(f"/analyses/{analysis_id}/result", json={"value": 12, "unit": "g/10 min", "analyst": name})
        for name in ("reviewer", "tech2", "engineer", "no-such-user")
    }
    assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(answers, 403)


def test_a_closed_account_acts_by_no_way_in_not_even_through_the_simulator(lab, session_factory):
    """Deactivating a user ends their logins and tokens; `recyclab simulate --as-users` acts as
    users named on the command line, through the same services, and must be refused as well:
    a closed account neither enters nor verifies a result."""
    admin = lab.as_("admin")
    register(lab.as_("tech"), receive=False, methods=["ash_3451"])
    ok(admin.patch("/users/tech", json={"active": False}))
    with session_factory() as s:
        lot = s.scalar(select(Lot).where(Lot.code == PP_LOT["code"]))
        with pytest.raises(Forbidden):
            lims_entry.register_sample(s, lims_entry.Actors(), lot)
    ok(admin.patch("/users/tech", json={"active": True}))
    ok(admin.patch("/users/reviewer", json={"active": False}))
    with session_factory() as s:
        lot = s.scalar(select(Lot).where(Lot.code == PP_LOT["code"]))
        sample = lims_entry.register_sample(s, lims_entry.Actors(), lot)
        with pytest.raises(Forbidden):
            lims_entry.enter_results(s, lims_entry.Actors(), sample, {"ash_3451": 0.4})
        states = {a.method.key: a.state for a in sample.analyses}
        assert states["ash_3451"] == "submitted" and "verified" not in states.values()


def test_a_result_measured_in_the_future_or_before_the_sample_came_in_is_refused(lab, session_factory):
    """A measurement time later than now, or before the sample was received, is a typing error
    (a wrong year, a day and month swapped): it would date the certificate's test period."""
    tech = lab.as_("tech")
    sample = register(tech, methods=["mfr_230_2_16", "ash_3451"])
    ids = analyses_by_method(sample)
    received = datetime.fromisoformat(sample["received_at"])
    tomorrow = (utcnow() + timedelta(days=1)).isoformat()
    before_receipt = (received - timedelta(hours=1)).isoformat()
    for when in (tomorrow, before_receipt):
        refused = tech.post(
            f"/analyses/{ids['mfr_230_2_16']}/result", json={"value": 12, "unit": "g/10 min", "measured_at": when}
        )
        assert refused.status_code == 422, refused.get_data(as_text=True)
        assert list(refused.get_json()["errors"]["json"]) == ["measured_at"]
    imported = tech.post("/imports/results", data=_csv([
        f"{sample['sample_id']},mfr_230_2_16,12,g/10 min,,,,{tomorrow}",
        f"{sample['sample_id']},ash_3451,0.4,%,,,,{before_receipt}",
    ]))
    assert imported.status_code == 422, imported.get_data(as_text=True)
    rows = {e["row"]: list(e["errors"]) for e in imported.get_json()["errors"]["json"]["rows"]}
    assert rows == {2: ["measured_at"], 3: ["measured_at"]}
    with session_factory() as s:
        assert all(s.get(Analysis, i).state == "unassigned" for i in ids.values())
    # The instrument PC's clock may run a little ahead of the server's.
    skewed = (utcnow() + timedelta(minutes=2)).isoformat()
    ok(tech.post(f"/analyses/{ids['mfr_230_2_16']}/result", json={"value": 12, "unit": "g/10 min", "measured_at": skewed}))


def test_retesting_a_result_the_guard_band_does_not_accept_opens_an_investigation(lab):
    """Under guarded acceptance a result within U of the least strict grade's limit is "warn" and
    not accepted: it leaves the sample off-spec as surely as one beyond the limit. Measuring it
    again until it passes is what the out-of-specification investigation is there to record."""
    tech = lab.as_("tech")
    sample = register(tech, methods=["mfr_230_2_16"])
    mfr_id = analyses_by_method(sample)["mfr_230_2_16"]
    # PP grade C: MFR at most 40; 39.00 ± 1.95 crosses it (PP is graded with a guard band).
    warned = ok(tech.post(f"/analyses/{mfr_id}/result", json={"value": "39.00", "unit": "g/10 min"}))
    assert warned["evaluation"] == "warn"
    retest = ok(tech.post(f"/analyses/{mfr_id}/retest", json={"reason": "die not cleaned"}))
    oos = ok(lab.as_("reviewer").get(f"/analyses/{mfr_id}/oos"))
    assert (oos["original_evaluation"], oos["retest"]) == ("warn", retest["id"])


def test_a_sample_registered_in_the_first_hour_of_the_new_year_is_numbered_in_that_year(lab, session_factory):
    """The year in a sample's ID is the lab's year, as on its certificates: at 00:30 on New
    Year's Day in Amsterdam (23:30 UTC the evening before) a new sample opens the new year's
    numbers, by every way in."""
    from datetime import UTC

    from lims.kernel.clock import frozen_at

    tech = lab.as_("tech")
    ok(tech.post("/lots", json=PP_LOT), 201)
    with frozen_at(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)):
        single = ok(tech.post("/samples", json={"lot": PP_LOT["code"]}), 201)["sample_id"]
        bulk = [s["sample_id"] for s in ok(tech.post("/samples/bulk", json={"samples": [{"lot": PP_LOT["code"]}] * 2}), 201)["samples"]]
        with session_factory.begin() as s:
            lot = s.scalar(select(Lot).where(Lot.code == PP_LOT["code"]))
            simulated = lims_entry.register_sample(s, lims_entry.Actors(), lot).code
    assert [single, *bulk, simulated] == [f"NTK-2027-00000{n}" for n in (1, 2, 3, 4)]
    # Later in the year the numbers go on.
    with frozen_at(datetime(2027, 1, 1, 9, 0, tzinfo=UTC)):
        assert ok(tech.post("/samples", json={"lot": PP_LOT["code"]}), 201)["sample_id"] == "NTK-2027-000005"
