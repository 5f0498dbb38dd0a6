"""CSV import as a lab uses it (issue 16, item 3): a template per material's methods, the method
keys on the page, semicolons and decimal commas from Dutch Excel, Amsterdam local times, every
problem of a row listed, and the file's text kept in the box after a refusal."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from lims.kernel import clock
from lims.kernel.models import Analysis, Sample
from tests.web import seed
from tests.web.test_pages import csrf_token, log_in

pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)


def first_analysis(session_factory, code: str):
    with session_factory() as s:
        a = s.scalars(select(Analysis).join(Sample).where(Sample.code == code).order_by(Analysis.id)).first()
        return a.id, a.method.key, a.method.unit, seed.in_spec_value(s, a)


def test_the_template_lists_the_materials_methods_and_the_page_shows_their_keys(client, seeded):
    log_in(client, "tech")
    page = client.get("/lab/import").get_data(as_text=True)
    with seeded() as s:
        from lims.kernel.models import Material

        pp = s.scalar(select(Material).where(Material.key == "pp"))
        keys = [(item.method.key, item.method.unit) for item in pp.test_plan]
    assert keys and all(f"<code>{html.escape(k)}</code>" in page for k, _ in keys)
    comma = client.get("/lab/import/template.csv?material=pp")
    assert comma.status_code == 200 and comma.mimetype == "text/csv"
    lines = comma.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0] == (
        "sample_id,method,value,unit,uncertainty,instrument,analyst,measured_at,uncertainty_reason,"
        "external_provider,external_report"
    )
    assert [(line.split(",")[1], line.split(",")[3]) for line in lines[1:]] == keys
    semicolon = client.get("/lab/import/template.csv?material=pp&sep=semicolon").get_data(as_text=True)
    assert semicolon.lstrip("\ufeff").startswith("sample_id;method;value;unit;")
    assert client.get("/lab/import/template.csv?material=nope").status_code == 422


def test_dutch_excel_semicolons_decimal_commas_and_amsterdam_time_are_imported(client, seeded):
    with clock.frozen_at(datetime(2026, 7, 1, 8, 0, tzinfo=UTC)):  # received before it was measured
        lot = seed.lot_with_samples(seeded, 1)
    code = lot.sample_codes[0]
    analysis_id, key, unit, value = first_analysis(seeded, code)
    text = f"sample_id;method;value;unit;measured_at\r\n{code};{key};{value.replace('.', ',')};{unit};01-07-2026 14:30\r\n"
    log_in(client, "tech")
    response = client.post("/lab/import", data={"text": text, "csrf_token": csrf_token(client, "/lab/import")})
    assert response.status_code == 200, response.get_data(as_text=True)
    with seeded() as s:
        a = s.get(Analysis, analysis_id)
        assert a.state == "submitted"
        assert a.measured_at.astimezone(UTC) == datetime(2026, 7, 1, 12, 30, tzinfo=UTC)  # CEST is UTC+2


def test_every_problem_of_a_row_is_listed_and_the_text_stays_in_the_box(client, seeded):
    lot = seed.lot_with_samples(seeded, 1)
    code = lot.sample_codes[0]
    _, key, unit, value = first_analysis(seeded, code)
    text = (
        "sample_id,method,value,unit,analyst,measured_at\n"
        f"{code},{key},{value},furlong,nobody,yesterday\n"
    )
    log_in(client, "tech")
    response = client.post("/lab/import", data={"text": text, "csrf_token": csrf_token(client, "/lab/import")})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    fields = re.findall(r'<tr><td class="num">2</td><td>(\w+)</td>', page)
    assert sorted(fields) == ["analyst", "measured_at", "unit"]
    box = re.search(r'<textarea name="text"[^>]*>(.*?)</textarea>', page, re.S).group(1)
    assert html.unescape(box) == text
    # An uploaded file's text comes back in the box too, to be corrected there.
    upload = client.post(
        "/lab/import",
        data={"file": (__import__("io").BytesIO(text.encode()), "results.csv"), "csrf_token": csrf_token(client, "/lab/import")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 422
    box = re.search(r'<textarea name="text"[^>]*>(.*?)</textarea>', upload.get_data(as_text=True), re.S).group(1)
    assert html.unescape(box) == text


def test_a_refused_method_says_which_keys_the_sample_has_and_that_a_done_one_needs_a_retest(client, seeded):
    """A technician typing "density" (the property) or an instrument's own name learns the key
    to write; one importing a run twice learns that a new result is a retest."""
    lot = seed.lot_with_samples(seeded, 1)
    code = lot.sample_codes[0]
    analysis_id, key, unit, value = first_analysis(seeded, code)
    log_in(client, "tech")
    token = csrf_token(client, "/lab/import")
    first = client.post("/lab/import", data={"text": f"sample_id,method,value,unit\n{code},{key},{value},{unit}\n",
                                             "csrf_token": token})
    assert first.status_code == 200, first.get_data(as_text=True)
    text = f"sample_id,method,value,unit\n{code},density,0.91,g/cm3\n{code},{key},{value},{unit}\n"
    refused = client.post("/lab/import", data={"text": text, "csrf_token": token})
    assert refused.status_code == 422
    rows = html.unescape(refused.get_data(as_text=True).split('class="row-errors"')[1].split("</table>")[0])
    assert re.search(rf"{code} is not tested by method 'density'; its methods: [^<]*density_1183", rows), rows
    assert re.search(rf"{code} has no open analysis for method '{key}': its result is entered; a new one "
                     r"needs a retest \(on the sample page\)", rows), rows


def test_a_file_excel_saved_as_plain_csv_is_refused_not_stored_with_replaced_letters(client, seeded):
    """Excel's plain "CSV" on a Dutch Windows PC is Windows-1252, not UTF-8: its ü read as UTF-8
    would be stored as a replacement character in the instrument's name. The page refuses the
    file as the API does, saying how to save it."""
    lot = seed.lot_with_samples(seeded, 1)
    code = lot.sample_codes[0]
    analysis_id, key, unit, value = first_analysis(seeded, code)
    text = f"sample_id;method;value;unit;instrument\r\n{code};{key};{value.replace('.', ',')};{unit};Weegschaal büro 2\r\n"
    log_in(client, "tech")
    response = client.post(
        "/lab/import",
        data={"file": (__import__("io").BytesIO(text.encode("cp1252")), "results.csv"),
              "csrf_token": csrf_token(client, "/lab/import")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422, response.status_code
    assert "CSV UTF-8" in html.unescape(response.get_data(as_text=True))
    with seeded() as s:
        assert s.get(Analysis, analysis_id).state == "unassigned"
    # The same file as UTF-8 (what "CSV UTF-8" saves) is imported with its ü.
    response = client.post(
        "/lab/import",
        data={"file": (__import__("io").BytesIO(("\ufeff" + text).encode()), "results.csv"),
              "csrf_token": csrf_token(client, "/lab/import")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    with seeded() as s:
        assert s.get(Analysis, analysis_id).instrument == "Weegschaal büro 2"


def test_a_misspelled_column_is_refused_on_the_page_naming_it_in_english_and_dutch(client, seeded):
    lot = seed.lot_with_samples(seeded, 1)
    code = lot.sample_codes[0]
    analysis_id, key, unit, value = first_analysis(seeded, code)
    text = f"sample_id,method,value,unit,measured at\n{code},{key},{value},{unit},2026-07-01T10:00\n"
    log_in(client, "tech")
    response = client.post("/lab/import", data={"text": text, "csrf_token": csrf_token(client, "/lab/import")})
    assert response.status_code == 422
    page = html.unescape(response.get_data(as_text=True))
    assert "unknown column(s): 'measured at'; the columns are sample_id, method" in page, page
    dutch = client.post("/lab/import", data={"text": text, "csrf_token": csrf_token(client, "/lab/import")},
                        headers={"Accept-Language": "nl-NL,nl;q=0.9"})
    assert "onbekende kolom(men): 'measured at'" in html.unescape(dutch.get_data(as_text=True))
    with seeded() as s:
        assert s.get(Analysis, analysis_id).state == "unassigned"


def test_the_page_refuses_a_file_past_the_apis_size_as_the_api_does(client, seeded):
    """The API refuses a file over 5 MB; the page read any the request limit let through (6 MB),
    uploaded or pasted: one limit for every way a file comes in."""
    lot = seed.lot_with_samples(seeded, 1)
    _, key, unit, value = first_analysis(seeded, lot.sample_codes[0])
    text = f"sample_id,method,value,unit\n{lot.sample_codes[0]},{key},{value},{unit}\n"
    text += (" " * 130_000 + "\n") * 41  # blank lines (of spaces) to past 5 MB
    log_in(client, "tech")
    token = csrf_token(client, "/lab/import")
    for data in ({"file": (__import__("io").BytesIO(text.encode()), "results.csv")}, {"text": text}):
        refused = client.post("/lab/import", data={**data, "csrf_token": token})
        assert refused.status_code == 422, refused.status_code
        assert "larger than" in refused.get_data(as_text=True)
    with seeded() as s:
        assert s.scalar(select(Analysis).where(Analysis.state != "unassigned")) is None
