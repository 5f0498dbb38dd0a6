"""Defect (issue 16): the browser's date picker showed mm/dd/yyyy beside the pages' dd/mm/yyyy.
Date fields are typed day first, as the pages show dates, in the lab's zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from lims.kernel.models import Lot
from tests.web.test_pages import csrf_token, log_in

pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)


def test_no_page_hands_dates_to_the_browsers_own_picker(client, seeded):
    log_in(client, "admin")
    for path, fields in (("/lab/lots/new", ["production_start", "production_end"]),
                         ("/lots/", ["produced_from", "produced_to"]),
                         ("/certificates/", ["issued_from", "issued_to"]),
                         ("/admin/audit/", ["from", "to"])):
        page = client.get(path).get_data(as_text=True)
        assert not re.search(r'type="(date|datetime-local)"', page), path
        for name in fields:
            field = re.search(rf'<input name="{name}"[^>]*>', page).group(0)
            assert 'placeholder="dd/mm/yyyy' in field, (path, field)


def test_day_first_dates_are_read_in_amsterdam(client, seeded):
    log_in(client, "tech")
    form = {
        "code": "EXT1-2026-0412", "installation": "ntk-ext1", "material": "pp", "owner": "polyvorm",
        "input_stream": "post-consumer", "recycled_content_pct": "90", "sample_count": "1",
        "production_start": "29/11/2026 08:00", "production_end": "29-11-2026 16:00",
    }
    response = client.post("/lab/lots/new", data={**form, "csrf_token": csrf_token(client, "/lab/lots/new")})
    assert response.status_code == 302, response.get_data(as_text=True)
    with seeded() as s:
        lot = s.scalar(select(Lot).where(Lot.code == "EXT1-2026-0412"))
        assert (lot.production_start, lot.production_end) == (
            datetime(2026, 11, 29, 7, 0, tzinfo=UTC), datetime(2026, 11, 29, 15, 0, tzinfo=UTC))
    found = client.get("/lots/", query_string={"produced_from": "29/11/2026", "produced_to": "29-11-2026"})
    assert 'data-lot="EXT1-2026-0412"' in found.get_data(as_text=True)
    assert 'data-lot="EXT1-2026-0412"' not in client.get("/lots/?produced_from=30/11/2026").get_data(as_text=True)
    refused = client.get("/lots/?produced_from=11/29/2026")  # month first: no 29th month
    assert refused.status_code == 422 and "29/11/2026" in refused.get_data(as_text=True)


def test_a_time_the_clocks_show_twice_or_skip_is_asked_about_not_guessed(client, seeded):
    """On 25 October 2026 Amsterdam's clocks go back: 02:30 comes twice, an hour apart. On 29
    March 2026 they go forward: there is no 02:30. A lot window typed in such an hour was read as
    one of them, or as a time that never was, and the lot's process data taken from the wrong
    hour; it is refused naming the field, and the time with its UTC offset goes in."""
    log_in(client, "tech")
    token = csrf_token(client, "/lab/lots/new")
    form = {
        "code": "EXT1-2026-1025", "installation": "ntk-ext1", "material": "pp", "owner": "polyvorm",
        "input_stream": "post-consumer", "recycled_content_pct": "90", "sample_count": "1",
        "production_start": "24/10/2026 22:00", "production_end": "25/10/2026 02:30", "csrf_token": token,
    }
    twice = client.post("/lab/lots/new", data=form)
    page = twice.get_data(as_text=True)
    assert twice.status_code == 422
    said = re.search(r'name="production_end".*?<p class="field-error" id="error-production_end">([^<]*)</p>', page, re.S).group(1)
    assert "twice" in said and "+02:00" in said and "+01:00" in said, said
    skipped = client.post("/lab/lots/new", data=form | {"production_start": "29/03/2026 02:30", "production_end": "29/03/2026 06:00"})
    assert skipped.status_code == 422
    said = re.search(r'name="production_start".*?<p class="field-error" id="error-production_start">([^<]*)</p>', skipped.get_data(as_text=True), re.S)
    assert "does not exist" in said.group(1), said.group(1)
    with seeded() as s:
        assert s.scalar(select(Lot).where(Lot.code == "EXT1-2026-1025")) is None
    done = client.post("/lab/lots/new", data=form | {"production_end": "2026-10-25T02:30+01:00"})
    assert done.status_code == 302, done.get_data(as_text=True)
    with seeded() as s:
        lot = s.scalar(select(Lot).where(Lot.code == "EXT1-2026-1025"))
        assert lot.production_end == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_a_chart_range_in_the_hour_the_clocks_go_back_keeps_its_hour(client, seeded):
    """The installation page writes the chosen range back into its fields and into its charts'
    addresses as the lab's clocks show it: the second 02:30 of 25 October 2026 came back as a
    bare "25/10/2026 02:30", which names two moments. Written with its offset, the charts show
    the hour asked for."""
    import html

    log_in(client, "engineer")
    asked = {"range": "custom", "start": "2026-10-25T02:30+01:00", "end": "2026-10-25T04:00+01:00"}
    page = client.get("/process/installations/ntk-ext1", query_string=asked)
    assert page.status_code == 200, page.get_data(as_text=True)
    series = html.unescape(re.search(r'data-first-series-url="([^"]+)"', page.get_data(as_text=True)).group(1))
    shown = client.get(series)
    assert shown.status_code == 200, shown.get_data(as_text=True)
    assert shown.get_json()["start"] == datetime(2026, 10, 25, 1, 30, tzinfo=UTC).timestamp()


def test_a_refused_search_field_is_named_on_the_page_in_the_readers_language(client, seeded):
    """The manufacturer's certificate search has two day fields refused with one wording; the
    error page said "Correct the fields named below" and named none, so the reader could not
    tell which of the two (or the sort) to correct."""
    log_in(client, "polyvorm")
    for query, said in (({"issued_from": "01/12/2026", "issued_to": "31/02/2026"}, "issued_to: give a date like"),
                        ({"issued_from": "2026-13-01"}, "issued_from: give a date like"),
                        ({"sort": "owner"}, "sort: must be one of number, -number")):
        refused = client.get("/certificates/", query_string=query)
        assert refused.status_code == 422 and f'<p class="detail">{said}' in refused.get_data(as_text=True), query
    dutch = client.get("/certificates/", query_string={"issued_to": "31/02/2026"}, headers={"Accept-Language": "nl"})
    assert '<p class="detail">issued_to: geef een datum zoals 29-11-2026</p>' in dutch.get_data(as_text=True)
