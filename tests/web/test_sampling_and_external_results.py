"""Issue 12, ISO/IEC 17025 7.8.2.1 k) and p), on the lab's pages: the technician records how a
lot's samples were taken when registering it, and marks a result transcribed from a
subcontracted lab's report with that lab and report, which the reviewer then sees."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from lims.kernel.models import Analysis, Lot, Sample
from tests.web import seed
from tests.web.test_pages import csrf_token, log_in

pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)

PLAN = "ISO 24153 random sampling, 5 increments of 1 kg"


def test_a_lot_registered_on_the_page_keeps_how_its_samples_were_taken(client, seeded):
    log_in(client, "tech")
    form = {
        "code": "EXT1-2026-0500", "installation": "ntk-ext1", "material": "pp", "owner": "polyvorm",
        "input_stream": "post-consumer", "recycled_content_pct": "90", "sample_count": "2",
        "production_start": "29/11/2026 08:00", "production_end": "29/11/2026 16:00",
        "sampled_at": "29/11/2026 17:30", "sampled_by": "J. Jansen (NTK sampler)", "sampling_plan": PLAN,
    }
    page = client.get("/lab/lots/new").get_data(as_text=True)
    # Providers measure, they own no lots.
    assert "Polymeer Analyse Centrum" not in page
    response = client.post("/lab/lots/new", data={**form, "csrf_token": csrf_token(client, "/lab/lots/new")})
    assert response.status_code == 302, response.get_data(as_text=True)
    with seeded() as s:
        samples = s.scalars(select(Sample).join(Lot).where(Lot.code == "EXT1-2026-0500")).all()
        assert len(samples) == 2
        for sample in samples:
            assert sample.sampling_plan == PLAN
            assert sample.sampled_by == "J. Jansen (NTK sampler)"
            assert sample.sampled_at == datetime(2026, 11, 29, 16, 30, tzinfo=UTC)

    too_long = client.post(
        "/lab/lots/new",
        data={**form, "code": "EXT1-2026-0501", "sampling_plan": "x" * 401,
              "csrf_token": csrf_token(client, "/lab/lots/new")},
    )
    assert too_long.status_code == 422
    assert "at most 400 characters" in too_long.get_data(as_text=True)
    with seeded() as s:
        assert s.scalar(select(Lot).where(Lot.code == "EXT1-2026-0501")) is None


def test_a_result_from_an_external_provider_is_entered_on_the_worksheet_and_shown_to_the_reviewer(
    client, seeded
):
    lot = seed.lot_with_samples(seeded, 1)
    code = lot.sample_codes[0]
    with seeded() as s:
        analysis = s.scalars(select(Analysis).join(Sample).where(Sample.code == code).order_by(Analysis.id)).first()
        aid, unit, value = analysis.id, analysis.method.unit, seed.in_spec_value(s, analysis)
    log_in(client, "tech")
    sheet = client.get(f"/lab/samples/{code}/worksheet").get_data(as_text=True)
    assert f'name="provider-{aid}"' in sheet and "Polymeer Analyse Centrum B.V." in sheet
    row = {f"value-{aid}": value, f"unit-{aid}": unit, f"provider-{aid}": "polymeer-analyse"}
    path = f"/lab/samples/{code}/worksheet"
    refused = client.post(path, data={**row, "csrf_token": csrf_token(client, path)})
    assert refused.status_code == 422
    assert "report number" in refused.get_data(as_text=True)
    with seeded() as s:
        assert s.get(Analysis, aid).state == "unassigned"

    entered = client.post(
        path, data={**row, f"provider_report-{aid}": "PAC-2026-1187", "csrf_token": csrf_token(client, path)}
    )
    assert entered.status_code == 302, entered.get_data(as_text=True)
    with seeded() as s:
        stored = s.get(Analysis, aid)
        assert (stored.state, stored.external_provider.key, stored.external_report) == (
            "submitted", "polymeer-analyse", "PAC-2026-1187"
        )
    client.get("/logout")
    log_in(client, "reviewer")
    queue = client.get("/review/").get_data(as_text=True)
    assert "by Polymeer Analyse Centrum B.V., report PAC-2026-1187" in queue


def test_an_imported_file_names_the_external_provider_and_report_of_its_rows(client, seeded):
    lot = seed.lot_with_samples(seeded, 2)
    rows = []
    with seeded() as s:
        for code in lot.sample_codes:
            a = s.scalars(select(Analysis).join(Sample).where(Sample.code == code).order_by(Analysis.id)).first()
            rows.append((a.id, code, a.method.key, seed.in_spec_value(s, a), a.method.unit))
    header = "sample_id,method,value,unit,external_provider,external_report\n"
    (first_id, *first), (second_id, *second) = rows
    log_in(client, "tech")
    bad = header + ",".join([*first, "polymeer-analyse", "PAC-7"]) + "\n" + ",".join([*second, "polyvorm", "X"]) + "\n"
    refused = client.post("/lab/import", data={"text": bad, "csrf_token": csrf_token(client, "/lab/import")})
    assert refused.status_code == 422
    assert "not an approved external provider" in refused.get_data(as_text=True)
    with seeded() as s:  # all or nothing
        assert s.get(Analysis, first_id).state == s.get(Analysis, second_id).state == "unassigned"
    good = header + ",".join([*first, "polymeer-analyse", "PAC-7"]) + "\n" + ",".join([*second, "", ""]) + "\n"
    imported = client.post("/lab/import", data={"text": good, "csrf_token": csrf_token(client, "/lab/import")})
    assert imported.status_code == 200, imported.get_data(as_text=True)
    with seeded() as s:
        external, own = s.get(Analysis, first_id), s.get(Analysis, second_id)
        assert (external.external_provider.key, external.external_report) == ("polymeer-analyse", "PAC-7")
        assert (own.external_provider, own.external_report) == (None, "")


def test_a_text_longer_than_its_column_is_refused_under_its_field_on_the_pages(client, seeded):
    """The API's schemas cap these texts; the lab's forms reach the services without them, and
    SQLite (the demo's database) would keep the whole text where PostgreSQL refuses it."""
    log_in(client, "tech")
    waiting = seed.lot_with_samples(seeded, 1, receive=False).sample_codes[0]
    shelf = "Cold store 2, rack " + "B" * 120
    received = client.post("/lab/receive", data={"code": waiting, "storage_location": shelf,
                                                 "csrf_token": csrf_token(client, "/lab/receive")})
    assert received.status_code == 422 and "at most 120 characters" in received.get_data(as_text=True)
    # The condition is printed on the certificate: cut short, it would say less than was seen.
    condition = "Bag torn at one corner, about 200 g spilled; " * 10
    received = client.post("/lab/receive", data={"code": waiting, "condition": condition,
                                                 "csrf_token": csrf_token(client, "/lab/receive")})
    assert received.status_code == 422 and "at most 400 characters" in received.get_data(as_text=True)
    form = {
        "code": "EXT1-2026-0502", "installation": "ntk-ext1", "material": "pp", "owner": "polyvorm",
        "input_stream": "post-consumer", "recycled_content_pct": "90", "sample_count": "1",
        "production_start": "29/11/2026 08:00", "production_end": "29/11/2026 16:00",
        "source": "Household packaging " + "x" * 400,
    }
    lot = client.post("/lab/lots/new", data={**form, "csrf_token": csrf_token(client, "/lab/lots/new")})
    assert lot.status_code == 422 and "at most 400 characters" in lot.get_data(as_text=True)
    with seeded() as s:
        assert s.scalar(select(Sample).where(Sample.code == waiting)).state == "registered"
        assert s.scalar(select(Lot).where(Lot.code == "EXT1-2026-0502")) is None
