"""The sample page guides its reader: why a sample got its grade and not a better one (the
results that fail the next better grade: the reviewer looks before certifying, the technician
before a retest), and what happens next when the page offers the reader nothing to do."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from lims.kernel.models import Sample
from lims.samples import workflow
from tests.web import seed
from tests.web.test_pages import csrf_token, log_in

pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)


def _graded(session_factory, values: dict[str, object]) -> str:
    """A verified PP sample; the methods named get the values given (a callable gets the
    analysis and the session), the others a grade-A value."""
    code = seed.lot_with_samples(session_factory, 1).sample_codes[0]
    with session_factory.begin() as s:
        tech = seed.user(s, "tech")
        sample = s.scalar(select(Sample).where(Sample.code == code))
        for analysis in list(sample.analyses):
            value = values.get(analysis.method.key)
            if value is not None:
                typed = value(s, analysis) if callable(value) else str(value)
                workflow.submit(s, tech, analysis, value=typed, unit=analysis.method.unit)
    seed.submit_all(session_factory, code)
    seed.verify_all(session_factory, code)
    return code


def _grade_cell(client, code: str) -> str:
    page = client.get(f"/lab/samples/{code}").get_data(as_text=True)
    cell = page.split('data-testid="grade">')[1].split("</dd>")[0]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", cell)).split())


def test_the_sample_page_names_the_results_that_keep_the_better_grade_away(client, seeded):
    b = _graded(seeded, {"colour_l": "60", "fpv_23900": "2"})
    a = _graded(seeded, {})
    off = _graded(seeded, {"ash_3451": seed.out_of_spec_value})
    log_in(client, "reviewer")
    assert _grade_cell(client, b).startswith("B not A because of: Colour L* (lightness) 60, Filter pressure value 2 ")
    assert _grade_cell(client, a) == "A"
    assert re.match(r"off-spec not C because of: Ash content [\d.]+ %$", _grade_cell(client, off))

    client.post("/lang", data={"lang": "nl", "next": f"/lab/samples/{b}", "csrf_token": csrf_token(client, "/review/")})
    assert _grade_cell(client, b).startswith("B niet A vanwege: Kleur L* (helderheid) 60, Filterdrukwaarde 2 ")


def test_a_sample_page_without_an_action_for_its_reader_says_what_happens_next(client, seeded):
    code = seed.lot_with_samples(seeded, 1).sample_codes[0]
    seed.submit_all(seeded, code, "tech")
    log_in(client, "tech")

    def next_step() -> str:
        page = client.get(f"/lab/samples/{code}").get_data(as_text=True)
        return page.split('data-testid="next-step">')[1].split("</p>")[0]

    assert next_step() == "Next: a reviewer verifies the submitted results (four eyes)."
    seed.verify_all(seeded, code)
    assert next_step() == "Next: a reviewer certifies the sample."
    client.post("/lang", data={"lang": "nl", "next": "/lab/samples", "csrf_token": csrf_token(client, "/lab/samples")})
    assert next_step() == "Volgende stap: een beoordelaar certificeert het monster."
