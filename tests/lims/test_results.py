"""Entering results: units, detection limits, CSV import all or nothing, guarded transitions."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from lims.kernel import clock
from lims.kernel.models import Analysis, AuditEvent, Sample, User
from tests.lims.conftest import analyses_by_method, ok, register

pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)


def test_wrong_unit_is_422_naming_the_expected_unit_and_changes_nothing(lab, session_factory):
    tech = lab.as_("tech")
    sample = register(tech, methods=["mfr_230_2_16", "charpy_179"])
    ids = analyses_by_method(sample)
    with session_factory() as s:
        events = s.scalar(select(func.count()).select_from(AuditEvent))
    for unit in ("g/10min", "kJ/m²x", "", "MPa"):
        r = tech.post(f"/analyses/{ids['mfr_230_2_16']}/result", json={"value": 12, "unit": unit})
        assert r.status_code == 422
        assert r.get_json()["errors"]["json"]["unit"] == [
            f"expected 'g/10 min' for method mfr_230_2_16, got '{unit}'"
        ]
    # Superscripts are spelling, not another unit.
    ok(tech.post(f"/analyses/{ids['charpy_179']}/result", json={"value": "4.25", "unit": "kJ/m²"}))
    bad = tech.post(f"/analyses/{ids['mfr_230_2_16']}/result", json={"value": "twelve", "unit": "g/10 min"})
    assert bad.status_code == 422 and "value" in bad.get_json()["errors"]["json"]
    missing = tech.post(f"/analyses/{ids['mfr_230_2_16']}/result", json={"value": 1})
    assert missing.status_code == 422 and "unit" in missing.get_json()["errors"]["json"]
    with session_factory() as s:
        mfr = s.get(Analysis, ids["mfr_230_2_16"])
        assert (mfr.state, mfr.value) == ("unassigned", None)
        # Only the charpy result (and nothing from the refused requests) was written.
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == events + 1


CSV_HEADER = "sample_id,method,value,unit,uncertainty,instrument,analyst,measured_at"


def test_csv_import_is_all_or_nothing_and_lists_every_bad_row(lab, session_factory):
    tech = lab.as_("tech")
    with clock.frozen_at(datetime(2026, 3, 3, 7, 30, tzinfo=UTC)):  # received before it was measured
        a = register(tech, methods=["mfr_230_2_16", "ash_3451", "density_1183"])["sample_id"]
    b = register(tech, methods=["mfr_230_2_16"], receive=False)["sample_id"]
    rows = [
        CSV_HEADER,
        f"{a},mfr_230_2_16,12.3,g/10 min,,MFR-02,tech2,2026-03-03T10:00:00+01:00",  # good
        f"{a},ash_3451,0.4,kg,,,,",  # wrong unit
        f"{a},iv_1628,0.8,dl/g,,,,",  # not in this sample's plan
        "NTK-2026-999999,mfr_230_2_16,12,g/10 min,,,,",  # unknown sample
        f"{b},mfr_230_2_16,12,g/10 min,,,,",  # not received yet
        f"{a},density_1183,0.91,g/cm3,,,,03/13/2026 10:00",  # month first: no 13th month
        f"{a},mfr_230_2_16,12.4,g/10 min,,,,",  # the same analysis twice
    ]
    r = tech.post("/imports/results", data={"file": (__import__("io").BytesIO("\n".join(rows).encode()), "run.csv")})
    assert r.status_code == 422, r.get_data(as_text=True)
    errors = {e["row"]: e["errors"] for e in r.get_json()["errors"]["json"]["rows"]}
    assert set(errors) == {3, 4, 5, 6, 7, 8}
    assert "g/10 min" not in str(errors[3]) and "expected '%'" in errors[3]["unit"][0]
    assert "not tested by method 'iv_1628'" in errors[4]["method"][0]
    assert "not found" in errors[5]["sample_id"][0]
    assert "registered" in errors[6]["row"][0]
    assert "not a time" in errors[7]["measured_at"][0]
    assert "row 2 of this file" in errors[8]["method"][0]
    with session_factory() as s:
        assert s.scalar(select(func.count()).where(Analysis.state != "unassigned")) == 0

    good = "\n".join([CSV_HEADER, f"{a},mfr_230_2_16,12.3,g/10 min,,MFR-02,tech2,2026-03-03T10:00:00+01:00",
                      f"{a},ash_3451,< 0.05,%,,,,"])
    done = ok(tech.post("/imports/results", data=good.encode(), content_type="text/csv"), 201)
    assert done["imported"] == 2
    mfr = done["analyses"][0]
    assert (mfr["analyst"], mfr["submitted_by"], mfr["instrument"]) == ("tech2", "tech", "MFR-02")
    assert mfr["measured_at"] == "2026-03-03T09:00:00+00:00"
    assert tech.post("/imports/results", data=b"method,value\n1,2", content_type="text/csv").status_code == 422


def test_an_instrument_time_the_clocks_show_twice_is_asked_about_not_guessed(lab, session_factory):
    """An instrument writing local times without an offset: at 02:30 on 25 October 2026 (the
    night Amsterdam's clocks go back, 02:30 comes twice) the row is refused naming measured_at
    and both readings, rather than dated an hour off; with its offset it goes in."""
    tech = lab.as_("tech")
    with clock.frozen_at(datetime(2026, 10, 24, 20, 0, tzinfo=UTC)):
        code = register(tech, methods=["mfr_230_2_16"])["sample_id"]
    with clock.frozen_at(datetime(2026, 10, 25, 6, 0, tzinfo=UTC)):
        row = f"{code},mfr_230_2_16,12.3,g/10 min,,MFR-02,,"
        r = tech.post("/imports/results", data=f"{CSV_HEADER}\n{row}25-10-2026 02:30".encode(), content_type="text/csv")
        assert r.status_code == 422, r.get_data(as_text=True)
        (refused,) = r.get_json()["errors"]["json"]["rows"]
        said = refused["errors"]["measured_at"][0]
        assert "twice" in said and "+02:00" in said and "+01:00" in said, said
        done = ok(tech.post("/imports/results", data=f"{CSV_HEADER}\n{row}2026-10-25T02:30+01:00".encode(),
                            content_type="text/csv"), 201)
    assert done["analyses"][0]["measured_at"] == "2026-10-25T01:30:00+00:00"


def test_transitions_that_are_not_allowed_answer_409_with_the_reason(lab):
    tech, reviewer = lab.as_("tech"), lab.as_("reviewer")
    sample = register(tech, methods=["ash_3451"])
    code, ash = sample["sample_id"], analyses_by_method(sample)["ash_3451"]
    r = tech.post(f"/samples/{code}/receive", json={})
    assert r.status_code == 409 and "it is received (needs registered)" in r.get_json()["message"]
    assert tech.post(f"/samples/{code}/cancel", json={"reason": "x"}).status_code == 409
    assert reviewer.post(f"/samples/{code}/certify").status_code == 409
    assert reviewer.post(f"/analyses/{ash}/verify").status_code == 409  # nothing submitted yet
    ok(tech.post(f"/analyses/{ash}/result", json={"value": "0.31", "unit": "%"}))
    again = tech.post(f"/analyses/{ash}/result", json={"value": "0.32", "unit": "%"})
    assert again.status_code == 409 and "retest instead" in again.get_json()["message"]
    assert tech.post(f"/analyses/{ash}/verify").status_code == 403  # technicians do not verify
    assert tech.post(f"/samples/{code}/reject", json={"reason": "wet"}).status_code == 409
    # A reviewer retracts it: a new analysis replaces it, the original is kept.
    new = ok(reviewer.post(f"/analyses/{ash}/retract", json={"reason": "crucible not tared"}))
    assert ok(tech.get(f"/analyses/{ash}"))["state"] == "retracted"
    assert reviewer.post(f"/analyses/{ash}/retract", json={"reason": "again"}).status_code == 409
    ok(tech.post(f"/analyses/{new['id']}/result", json={"value": "0.30", "unit": "%"}))
    ok(reviewer.post(f"/analyses/{new['id']}/verify"))
    verified = ok(tech.get(f"/samples/{code}"))
    assert verified["state"] == "verified" and verified["grade"] == "not graded"  # most of the plan is missing
    assert tech.post(f"/samples/{code}/certify").status_code == 403
    assert ok(reviewer.post(f"/samples/{code}/certify"))["state"] == "certified"
    issued = ok(reviewer.get(f"/certificates?q={code}"))
    assert [c["status"] for c in issued] == ["valid"], "certified without its certificate"
    assert reviewer.post(f"/analyses/{new['id']}/retest", json={"reason": "x"}).status_code == 409
    assert reviewer.post(f"/samples/{code}/invalidate", json={"reason": " "}).status_code == 422
    assert ok(reviewer.post(f"/samples/{code}/invalidate", json={"reason": "wrong lot"}))["state"] == "invalid"


def test_bulk_registration_is_all_or_nothing(lab, session_factory):
    tech = lab.as_("tech")
    register(tech, receive=False, methods=[])
    with session_factory() as s:
        before = s.scalar(select(func.count()).select_from(Sample))
    bad = tech.post("/samples/bulk", json={"samples": [
        {"material": "pp", "owner": "polyvorm"},
        {"material": "unobtainium", "owner": "polyvorm"},
        {"lot": "L-EXT1-2026-0042", "methods": ["mfr_230_2_16", "nope"]},
        {"owner": "polyvorm"},
    ]})
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]["json"]["samples"]) == {"1", "2", "3"}
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Sample)) == before
    good = ok(tech.post("/samples/bulk", json={"samples": [{"material": "cotton", "owner": "vezelwerk"}] * 30}), 201)
    codes = [s["sample_id"] for s in good["samples"]]
    assert len(set(codes)) == 30 and all(c.startswith("DCTV-") for c in codes)


def test_partitions_keep_their_parent(lab):
    tech = lab.as_("tech")
    parent = register(tech, methods=["mfr_230_2_16"])["sample_id"]
    parts = ok(tech.post(f"/samples/{parent}/partitions", json={"count": 2, "methods": ["ash_3451"]}), 201)["samples"]
    assert [p["sample_id"] for p in parts] == [f"{parent}-01", f"{parent}-02"]
    more = ok(tech.post(f"/samples/{parent}/partitions", json={"storage_location": "Freezer 2"}), 201)["samples"]
    assert more[0]["sample_id"] == f"{parent}-03" and more[0]["storage_location"] == "Freezer 2"
    detail = ok(tech.get(f"/samples/{parent}-01"))
    assert detail["parent"] == parent and detail["lot"] == "L-EXT1-2026-0042" and detail["state"] == "received"
    assert [a["method"] for a in detail["analyses"]] == ["ash_3451"]
    assert ok(tech.get(f"/samples/{parent}"))["partitions"] == [f"{parent}-01", f"{parent}-02", f"{parent}-03"]
    assert tech.post(f"/samples/{parent}-01/partitions", json={}).status_code == 409


def test_a_result_given_twice_in_one_file_names_the_row_that_gave_it_first(lab, session_factory):
    """An instrument export that lists a run twice: nothing is imported (all or nothing), so the
    second row is not "entered already, retest it"; it repeats a row of the same file."""
    tech = lab.as_("tech")
    code = register(tech, methods=["mfr_230_2_16", "ash_3451"])["sample_id"]
    rows = [CSV_HEADER, f"{code},ash_3451,0.4,%,,,,", f"{code},mfr_230_2_16,12.3,g/10 min,,,,",
            f"{code.lower()},mfr_230_2_16,12.5,g/10 min,,,,"]
    r = tech.post("/imports/results", data="\n".join(rows).encode(), content_type="text/csv")
    assert r.status_code == 422, r.get_data(as_text=True)
    (bad,) = r.get_json()["errors"]["json"]["rows"]
    assert bad["row"] == 4 and "row 3" in bad["errors"]["method"][0], bad
    assert "retest" not in bad["errors"]["method"][0]
    with session_factory() as s:
        assert s.scalar(select(func.count()).where(Analysis.state != "unassigned")) == 0


def test_a_column_the_import_does_not_know_is_refused_naming_it_and_the_known_ones(lab, session_factory):
    """"measured at" for measured_at was ignored: the result was stored as measured now, the
    file's time lost. A misspelled optional column is named, with the columns there are."""
    tech = lab.as_("tech")
    code = register(tech, methods=["mfr_230_2_16"])["sample_id"]
    for header in ("sample_id,method,value,unit,measured at", "sample_id,method,value,unit,uncertanity",
                   "\ufeffSample_ID;Method;Value;Unit;Measured at"):
        sep = ";" if ";" in header else ","
        text = f"{header}\n{sep.join([code, 'mfr_230_2_16', '12.3', 'g/10 min', '2026-03-03T10:00:00+01:00'])}\n"
        r = tech.post("/imports/results", data=text.encode(), content_type="text/csv")
        assert r.status_code == 422, r.get_data(as_text=True)
        (message,) = r.get_json()["errors"]["json"]["file"]
        unknown = header.rsplit(sep, 1)[1].lower()
        assert f"unknown column(s): '{unknown}'" in message and "measured_at" in message, message
    # The same column twice would keep only one of its cells.
    twice = f"sample_id,method,value,unit,value\n{code},mfr_230_2_16,12.3,g/10 min,13.1\n"
    r = tech.post("/imports/results", data=twice.encode(), content_type="text/csv")
    assert r.status_code == 422 and "'value' twice" in r.get_json()["errors"]["json"]["file"][0], r.get_json()
    with session_factory() as s:
        assert s.scalar(select(func.count()).where(Analysis.state != "unassigned")) == 0


def test_a_number_a_thousands_separator_could_have_written_is_asked_about_not_read_as_a_fraction(lab, session_factory):
    """A tensile modulus of 1420 MPa typed the Dutch way ("1.420") or exported by an English
    instrument PC ("1,420") was read as 1.420 and stored, at the method's no decimals, as 1 MPa:
    both are plausible results, so neither was refused. Such a number is now asked about, by
    the API and the CSV import alike; one no thousands separator could have written is read as
    before (1,42; 0,905 g/cm3; an MFR of 15.745, where 15745 is no plausible result)."""
    tech = lab.as_("tech")
    sample = register(tech, methods=["tensile_modulus_527", "density_1183", "mfr_230_2_16"])
    ids = analyses_by_method(sample)
    for typed in ("1.420", "1,420", "+1.420"):
        r = tech.post(f"/analyses/{ids['tensile_modulus_527']}/result", json={"value": typed, "unit": "MPa"})
        assert r.status_code == 422, (typed, r.get_json())
        assert "thousands separator" in r.get_json()["errors"]["json"]["value"][0], typed
    csv = "\n".join([CSV_HEADER, f"{sample['sample_id']},tensile_modulus_527,\"1,420\",MPa,,,,"])
    refused = tech.post("/imports/results", data=csv.encode(), content_type="text/csv")
    assert refused.status_code == 422
    (row,) = refused.get_json()["errors"]["json"]["rows"]
    assert "thousands separator" in row["errors"]["value"][0]
    with session_factory() as s:
        assert s.scalar(select(func.count()).where(Analysis.state != "unassigned")) == 0

    assert ok(tech.post(f"/analyses/{ids['tensile_modulus_527']}/result", json={"value": "1420", "unit": "MPa"}))["value"] == "1420"
    assert ok(tech.post(f"/analyses/{ids['density_1183']}/result", json={"value": "0,905", "unit": "g/cm3"}))["value"] == "0.905"
    assert ok(tech.post(f"/analyses/{ids['mfr_230_2_16']}/result", json={"value": "15.745", "unit": "g/10 min"}))["value"] == "15.74"


def test_a_partition_was_received_when_its_parent_was(lab, session_factory):
    """A partition counted as received when it was split off, by whoever split it: a result
    measured on the material before the split was refused as "before receipt", the receipt
    date of a certificate on the partition was the day of the split, and the splitter's
    receive log listed a receipt she never scanned."""
    tech, tech2 = lab.as_("tech"), lab.as_("tech2")
    received = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    with clock.frozen_at(received):
        parent = register(tech, methods=["mfr_230_2_16"])["sample_id"]
    with clock.frozen_at(received + timedelta(days=1)):
        (part,) = ok(tech2.post(f"/samples/{parent}/partitions", json={"count": 1, "methods": ["ash_3451"]}), 201)["samples"]
        assert part["received_at"] == ok(tech.get(f"/samples/{parent}"))["received_at"]
        ash = analyses_by_method(ok(tech2.get(f"/samples/{part['sample_id']}")))["ash_3451"]
        entered = tech2.post(f"/analyses/{ash}/result", json={
            "value": "0.5", "unit": "%", "measured_at": (received + timedelta(hours=3)).isoformat()})
        assert entered.status_code == 200, entered.get_data(as_text=True)
    with session_factory() as s:
        row = s.scalar(select(Sample).where(Sample.code == part["sample_id"]))
        assert s.get(User, row.received_by_id).username == "tech"
        split = s.scalar(select(AuditEvent).where(AuditEvent.action == "sample.partition"))
        assert split.actor == "tech2" and split.after["methods"] == ["ash_3451"]


def test_a_detection_limit_past_any_column_is_a_row_error_naming_the_value(lab, session_factory):
    """"< 999999999999 GPa" (a tensile modulus, converted to 10^15 MPa) reached the database,
    which refused it for the whole file ("a value does not fit its column", naming no row)."""
    tech = lab.as_("tech")
    code = register(tech, methods=["tensile_modulus_527", "mfr_230_2_16"])["sample_id"]
    rows = [CSV_HEADER, f"{code},tensile_modulus_527,< 999999999999,GPa,,,,", f"{code},mfr_230_2_16,12,g/10 min,,,,"]
    r = tech.post("/imports/results", data="\n".join(rows).encode(), content_type="text/csv")
    assert r.status_code == 422, r.get_data(as_text=True)
    (refused,) = r.get_json()["errors"]["json"]["rows"]
    assert refused["row"] == 2 and list(refused["errors"]) == ["value"], refused
    with session_factory() as s:
        assert s.scalar(select(func.count()).where(Analysis.state != "unassigned")) == 0


@pytest.mark.parametrize("header, body", [
    # Unnamed columns, each looked for in every row: a 29 kB file held a worker 14 s here.
    ("sample_id,method,value,unit" + "," * 20_000, "\n" * 9_000),
    # A column given again and again, each counted along the whole header: 150 kB, 15 s.
    ("sample_id,method,value" + ",unit" * 30_000, "\n"),
])
def test_a_wide_header_is_refused_in_time_linear_in_the_file(lab, header, body):
    """The header check took time quadratic in the file's size: the 5 MB a file may have would
    hold a web worker for hours."""
    tech = lab.as_("tech")
    started = time.monotonic()
    r = tech.post("/imports/results", data=(header + "\n" + body).encode(), content_type="text/csv")
    elapsed = time.monotonic() - started
    assert r.status_code == 422, r.get_data(as_text=True)
    assert elapsed < 5, f"{elapsed:.1f} s"
