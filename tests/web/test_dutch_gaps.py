"""Dutch pages say it all in Dutch: why a result was replaced (stored with its English action
word), the SIMULATED badge of the process pages."""

from __future__ import annotations

import dataclasses
import re

from sqlalchemy import select

from lims.kernel.models import Analysis, Sample
from lims.samples import workflow
from tests.web import seed
from tests.web.test_pages import log_in

DUTCH = "nl-NL,nl;q=0.9"


def test_a_retest_and_a_retract_reason_are_shown_in_dutch_and_stored_as_before(client, seeded):
    code = seed.lot_with_samples(seeded, 1).sample_codes[0]
    seed.submit_all(seeded, code, "tech")
    with seeded.begin() as s:
        first, second = s.scalars(select(Analysis).join(Sample).where(Sample.code == code).order_by(Analysis.id).limit(2))
        workflow.retest(s, seed.user(s, "tech"), first, "balance drifted")
        workflow.retract(s, seed.user(s, "reviewer"), second, "wrong unit")
    with seeded() as s:
        stored = s.scalars(select(Analysis.retract_reason).where(Analysis.retract_reason != "").order_by(Analysis.id)).all()
        assert stored == ["retest: balance drifted", "retract: wrong unit"]  # the record keeps its words
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = DUTCH
    log_in(client, "tech")
    page = client.get(f"/lab/samples/{code}").get_data(as_text=True)
    assert "heranalyse: balance drifted" in page and "ingetrokken: wrong unit" in page
    assert "retest:" not in page and "retract:" not in page


def test_the_simulated_badge_is_dutch_on_a_dutch_page(app, client, seeded):
    app.config["RECYCLAB"] = dataclasses.replace(app.config["RECYCLAB"], simulated_data=True)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = DUTCH
    log_in(client, "engineer")
    page = client.get("/process/").get_data(as_text=True)
    assert ">GESIMULEERD</span>" in page and "SIMULATED" not in page


def test_an_off_spec_grade_is_said_in_dutch_wherever_a_page_shows_a_grade(app, client, seeded):
    from lims.kernel.models import Certificate
    from tests.support.models import version_without_artifact
    from tests.web.test_pages import _certify

    lot = seed.lot_with_samples(seeded, 1)
    code = lot.sample_codes[0]
    number = _certify(app, seeded, code)
    with seeded.begin() as s:  # as if its results had failed every grade
        s.add(version_without_artifact("grade-x", ["A", "B", "off-spec"], status="production"))
        s.scalar(select(Sample).where(Sample.code == code)).grade = "off-spec"
        s.scalar(select(Certificate).where(Certificate.number == number)).grade = "off-spec"
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = DUTCH
    log_in(client, "reviewer")
    pages = ["/lab/samples", f"/lab/samples/{code}", f"/lab/lots/{lot.lot_id}", "/certificates/",
             f"/process/lots/{lot.lot_id}", "/lots/", f"/verify/{number}", "/models/grade-x"]
    untranslated = [p for p in pages if "afgekeurd" not in (page := client.get(p).get_data(as_text=True))
                    or re.search(r">\s*off-spec\s*<", page)]
    assert untranslated == []
