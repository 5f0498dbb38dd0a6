"""What a result means for the sample's grade, on the worksheet flag and in the review queue: a
value that costs grade A is not shown as plainly "in spec" (the loosest grade's limits)."""

from __future__ import annotations

from sqlalchemy import select

from lims.kernel.models import Analysis, Sample
from lims.samples import workflow
from tests.web import seed
from tests.web.test_pages import csrf_token, log_in


def _mfr(session_factory, code: str) -> Analysis:
    with session_factory() as s:
        return s.scalar(select(Analysis).join(Sample).where(Sample.code == code, Analysis.method.has(property="mfr")))


def test_the_worksheet_flag_says_the_best_grade_a_typed_value_still_allows(client, seeded):
    # PP melt flow rate, guard band: A 8..16, B 4..25, C 2..40 g/10 min.
    code = seed.lot_with_samples(seeded, 1).sample_codes[0]
    mfr = _mfr(seeded, code)
    log_in(client, "tech")

    def reach(value: str) -> dict:
        return client.get(f"/lab/analyses/{mfr.id}/evaluate", query_string={"value": value}).get_json()["reach"]

    assert reach("12") == {"label": "A", "flag": "in_spec", "why": reach("12")["why"]}
    costs_a = reach("20")
    assert (costs_a["label"], costs_a["flag"]) == ("B only", "warn")
    assert costs_a["why"].startswith("grade A: 20")
    assert (reach("30")["label"], reach("30")["flag"]) == ("C only", "warn")
    assert (reach("50")["label"], reach("50")["flag"]) == ("off-spec", "out_of_spec")


def test_the_dutch_flag_names_the_grade_in_dutch(client, seeded):
    code = seed.lot_with_samples(seeded, 1).sample_codes[0]
    mfr = _mfr(seeded, code)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "nl-NL,nl;q=0.9"
    log_in(client, "tech")
    answer = client.get(f"/lab/analyses/{mfr.id}/evaluate", query_string={"value": "20"}).get_json()
    assert answer["reach"]["label"] == "alleen B"
    assert answer["reach"]["why"].startswith("klasse A: 20")


def test_the_review_queue_and_the_sample_worksheet_show_a_result_that_costs_grade_a(client, seeded):
    code = seed.lot_with_samples(seeded, 1).sample_codes[0]
    with seeded.begin() as s:
        tech = seed.user(s, "tech")
        for a in s.scalar(select(Sample).where(Sample.code == code)).analyses:
            value = "20" if a.method.property == "mfr" else seed.in_spec_value(s, a)
            workflow.submit(s, tech, a, value=value, unit=a.method.unit)
    log_in(client, "reviewer")
    queue = client.get("/review/").get_data(as_text=True)
    assert '<span class="badge warn"' in queue and ">B only</span>" in queue
    assert ">in spec</span>" not in queue  # every other result allows A: shown as such
    log_in(client, "tech")
    sheet = client.get(f"/lab/samples/{code}/worksheet").get_data(as_text=True)
    assert ">B only</span>" in sheet


def test_an_imported_result_shows_the_grade_it_allows(client, seeded):
    code = seed.lot_with_samples(seeded, 1).sample_codes[0]
    text = f"sample_id,method,value,unit\r\n{code},{_mfr(seeded, code).method.key},20,g/10 min\r\n"
    log_in(client, "tech")
    page = client.post("/lab/import", data={"text": text, "csrf_token": csrf_token(client, "/lab/import")})
    assert page.status_code == 200
    assert '<span class="badge warn" title="grade A: 20.00 is above max 16">B only</span>' in page.get_data(as_text=True)
