"""The reviewer's queue after a refused action: the results ticked stay ticked, and the reason
typed stays typed, so one correction (the missing reason) finishes the job."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lims.kernel.models import Analysis, Sample
from tests.web import seed
from tests.web.test_pages import csrf_token, log_in

pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)


def _ticked(page: str) -> set[int]:
    return {int(m) for m in re.findall(r'<input type="checkbox" name="analysis" value="(\d+)"[^>]*\bchecked\b', page)}


def test_a_refused_retract_or_verify_keeps_the_ticks_and_the_reason(client, seeded):
    code = seed.lot_with_samples(seeded, 1).sample_codes[0]
    seed.submit_all(seeded, code, "tech")
    with seeded() as s:
        first, second, third = s.scalars(
            select(Analysis.id).join(Sample).where(Sample.code == code).order_by(Analysis.id).limit(3))
    log_in(client, "reviewer")
    token = csrf_token(client, "/review/")
    assert _ticked(client.get("/review/").get_data(as_text=True)) == set()

    refused = client.post("/review/retract", data={"analysis": [first, third], "reason": " ", "csrf_token": token})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "say why the result is retracted" in page
    assert _ticked(page) == {first, third}

    # Verify refused (one of the ticked is gone meanwhile): the reason typed for a retract stays.
    gone = client.post("/review/verify", data={"analysis": [second, 999_999_999], "reason": "balance drift",
                                               "csrf_token": token})
    assert gone.status_code == 404
    page = gone.get_data(as_text=True)
    assert _ticked(page) == {second}
    assert re.search(r'<input name="reason" form="review-form"[^>]*value="balance drift"', page)


def test_a_sample_reopened_for_an_amendment_is_offered_its_amendment_not_a_certify_the_service_refuses(
    app, client, seeded
):
    """A certified sample reopened to correct its certificate is "verified" again, so the queue
    listed it among the samples ready to certify with a Certify button, which answered 409
    ("reopened to correct certificate ...: amend it"). The queue now leads to the amendment on
    the sample page; a sample never certified keeps its Certify button."""
    from lims.certificates import amending, issuing
    from lims.kernel.models.certificate import Certificate

    reopened, fresh = seed.lot_with_samples(seeded, 2).sample_codes
    for code in (reopened, fresh):
        seed.submit_all(seeded, code, "tech")
        seed.verify_all(seeded, code, "reviewer")
    with seeded.begin() as s:
        reviewer = seed.user(s, "reviewer")
        sample = s.scalar(select(Sample).where(Sample.code == reopened))
        cert = issuing.issue_for_sample(s, issuing.Issuer.from_settings(app.config["RECYCLAB"]), reviewer, sample)
        amending.reopen(s, reviewer, cert, "MFR measured at the wrong temperature")
        number = cert.number
    log_in(client, "reviewer")
    page = client.get("/review/").get_data(as_text=True)
    assert f'action="/review/samples/{fresh}/certify"' in page
    assert f'action="/review/samples/{reopened}/certify"' not in page
    assert f'href="/lab/samples/{reopened}">Issue the amended certificate replacing {number}</a>' in page
    with seeded() as s:
        assert s.scalar(select(Certificate.status).where(Certificate.number == number)) == "withdrawn"
