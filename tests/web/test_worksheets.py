"""Worksheets (issue 16, item 2 and the worksheet defects): one method across samples, every
grade's limit on the sheet, samples that cannot take results say why before anything is typed,
and a certified sample's sheet offers no submit."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lims.kernel.models import Analysis, Sample
from tests.web import seed
from tests.web.test_pages import _count_queries, csrf_token, log_in

pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)


def open_analysis(session_factory, code: str, method_key: str | None = None):
    with session_factory() as s:
        stmt = select(Analysis).join(Sample).where(Sample.code == code).order_by(Analysis.id)
        a = next(a for a in s.scalars(stmt) if method_key in (None, a.method.key))
        return a.id, a.method.key, a.method.unit, seed.in_spec_value(s, a)


def test_a_method_sheet_spans_samples_and_enters_them_all_or_nothing(app, client, seeded):
    received = seed.lot_with_samples(seeded, 2)
    waiting = seed.lot_with_samples(seeded, 1, receive=False)
    first_id, key, unit, value = open_analysis(seeded, received.sample_codes[0])
    second_id, *_ = open_analysis(seeded, received.sample_codes[1], key)
    waiting_id, *_ = open_analysis(seeded, waiting.sample_codes[0], key)
    log_in(client, "tech")
    overview = client.get("/lab/worksheets").get_data(as_text=True)
    assert re.search(rf'data-method="{key}">.*?<td class="num">2</td><td class="num">1</td>', overview, re.S)
    sheet = client.get(f"/lab/worksheets/{key}").get_data(as_text=True)
    assert f'name="value-{first_id}"' in sheet and f'name="value-{second_id}"' in sheet
    assert f'name="value-{waiting_id}"' not in sheet  # no input for a sample not yet received ...
    waiting_row = re.search(rf'<tr data-sample="{waiting.sample_codes[0]}">.*?</tr>', sheet, re.S).group(0)
    assert "Not received yet" in waiting_row  # ... and the reason, before anything is typed
    with seeded() as s:
        from lims.samples.results import load_spec

        a = s.get(Analysis, first_id)
        spec = load_spec(s, a.sample.material_id)
        graded = [g.name for g in spec.grades if a.method.property in g.limits]
    limits = re.search(r'<td class="small limits">(.*?)</td>', sheet, re.S).group(1)
    assert re.findall(r"<strong>(\w+)</strong>", limits) == graded and len(graded) > 1  # every grade, not one
    token = csrf_token(client, f"/lab/worksheets/{key}")
    refused = client.post(f"/lab/worksheets/{key}", data={
        "csrf_token": token, f"value-{first_id}": value, f"unit-{first_id}": unit,
        f"value-{second_id}": value, f"unit-{second_id}": "furlong"})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert page.count("furlong") == 2  # the typed unit kept in its box, and the message once
    assert re.search(rf'name="unit-{second_id}"[^>]*aria-invalid="true"[^>]*><span class="field-error" data-error-for="unit" id="error-unit-{second_id}">expected', page)
    with seeded() as s:
        assert s.get(Analysis, first_id).state == "unassigned"
    done = client.post(f"/lab/worksheets/{key}", data={
        "csrf_token": token, f"value-{first_id}": value, f"unit-{first_id}": unit,
        f"value-{second_id}": value, f"unit-{second_id}": unit})
    assert done.status_code == 302
    with seeded() as s:
        assert {s.get(Analysis, i).state for i in (first_id, second_id)} == {"submitted"}
    # One sheet costs the same queries for more samples.
    few = _count_queries(app, client, f"/lab/worksheets/{key}")
    seed.lot_with_samples(seeded, 4)
    assert _count_queries(app, client, f"/lab/worksheets/{key}") == few


def test_a_method_sheet_field_naming_no_analysis_is_passed_over_not_a_server_error(client, seeded):
    """The sheet's fields are named after its analyses' ids (value-<id>); one edited to a number
    no row has, however long, names no result: the rest of the sheet is entered as typed."""
    lot = seed.lot_with_samples(seeded, 1)
    analysis_id, key, unit, value = open_analysis(seeded, lot.sample_codes[0])
    log_in(client, "tech")
    token = csrf_token(client, f"/lab/worksheets/{key}")
    beyond = {f"value-{'9' * 20}": value, f"value-{'9' * 5000}": value}
    nothing = client.post(f"/lab/worksheets/{key}", data={"csrf_token": token, **beyond})
    assert nothing.status_code == 422 and "Enter at least one value." in nothing.get_data(as_text=True)
    done = client.post(f"/lab/worksheets/{key}", data={
        "csrf_token": token, **beyond, f"value-{analysis_id}": value, f"unit-{analysis_id}": unit})
    assert done.status_code == 302
    with seeded() as s:
        assert s.get(Analysis, analysis_id).state == "submitted"


def test_a_certified_or_unreceived_sample_sheet_says_why_and_offers_no_submit(app, client, seeded):
    lot = seed.lot_with_samples(seeded, 1)
    code = lot.sample_codes[0]
    seed.submit_all(seeded, code)
    seed.verify_all(seeded, code)
    from lims.certificates import issuing as certificates

    with seeded.begin() as s:
        sample = s.scalar(select(Sample).where(Sample.code == code))
        certificates.issue_for_sample(s, certificates.Issuer.from_settings(app.config["RECYCLAB"]), seed.user(s, "reviewer"), sample)
    log_in(client, "tech")
    page = client.get(f"/lab/samples/{code}/worksheet").get_data(as_text=True)
    assert "Submit results" not in page and "it takes no new results" in page
    waiting = seed.lot_with_samples(seeded, 1, receive=False).sample_codes[0]
    page = client.get(f"/lab/samples/{waiting}/worksheet").get_data(as_text=True)
    assert "Submit results" not in page and "has not been received yet" in page
    assert 'data-evaluate=' not in page


def test_sample_worksheet_shows_every_grades_limit_and_one_error_per_field(client, seeded):
    code = seed.lot_with_samples(seeded, 1).sample_codes[0]
    analysis_id, key, unit, value = open_analysis(seeded, code)
    log_in(client, "tech")
    page = client.get(f"/lab/samples/{code}/worksheet").get_data(as_text=True)
    assert len(re.findall(r"<strong>(\w+)</strong>", re.search(r'<td class="small limits">(.*?)</td>', page, re.S).group(1))) > 1
    refused = client.post(f"/lab/samples/{code}/worksheet", data={
        "csrf_token": csrf_token(client, f"/lab/samples/{code}/worksheet"),
        f"value-{analysis_id}": value, f"unit-{analysis_id}": unit, f"instrument-{analysis_id}": "x" * 300})
    assert refused.status_code == 422  # a 300-character instrument is refused, not a database error
    assert re.search(r'data-error-for="instrument"[^>]*>at most 100 characters', refused.get_data(as_text=True))


def test_a_row_a_colleague_entered_meanwhile_is_named_on_the_refused_sheet(client, seeded):
    """A colleague entered one of the sheet's results after it was opened: the sheet came back
    422 "Correct the rows marked below" with no row marked (the row, no longer open, is off the
    sheet, and so was the only message that said what was wrong)."""
    lot = seed.lot_with_samples(seeded, 2)
    taken_id, key, unit, value = open_analysis(seeded, lot.sample_codes[0])
    other_id, *_ = open_analysis(seeded, lot.sample_codes[1], key)
    log_in(client, "tech")
    token = csrf_token(client, f"/lab/worksheets/{key}")
    seed.submit_all(seeded, lot.sample_codes[0], "tech2")
    refused = client.post(f"/lab/worksheets/{key}", data={
        "csrf_token": token, f"value-{taken_id}": value, f"unit-{taken_id}": unit,
        f"value-{other_id}": value, f"unit-{other_id}": unit})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert lot.sample_codes[0] in page and "can be entered only once" in page, page
    with seeded() as s:
        assert s.get(Analysis, other_id).state == "unassigned"
