"""A refusal because a role lacks a right ("role 'customer' may not ...") reads in Dutch on a Dutch
page, the right's wording included, while the API keeps saying it in English."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from lims.kernel.errors import Forbidden
from lims.kernel.models import Sample
from lims.people import accounts
from lims.samples import registration, workflow
from lims.web.errors import render_error
from tests.web import seed

DUTCH = {"Accept-Language": "nl-NL,nl;q=0.9"}


def _refusal_page(app, refuse) -> str:
    """The error page a page view shows when the service refuses (as web_blueprint does)."""
    with app.test_request_context("/lab/samples", headers=DUTCH), pytest.raises(Forbidden) as refused:
        refuse()
    with app.test_request_context("/lab/samples", headers=DUTCH):
        body, status = render_error(refused.value.status, refused.value.message)
    assert status == 403
    return body


def test_a_customer_refused_a_right_is_told_so_in_dutch_on_a_page_and_in_english_by_the_api(
    app, client, session_factory
):
    seed.seed_reference(session_factory)
    lot = seed.lot_with_samples(session_factory, 1, receive=False)
    with session_factory() as s:
        customer = seed.user(s, "polyvorm")
        sample = s.scalar(select(Sample).where(Sample.code == lot.sample_codes[0]))
        # The right's own wording (Capability), and a call's own wording (doing=...).
        receiving = _refusal_page(app, lambda: workflow.receive(s, customer, sample))
        registering = _refusal_page(
            app, lambda: registration.register_samples(s, customer, [registration.SampleRequest(lot=lot.lot_code)])
        )
    assert "de rol &#39;customer&#39; mag niet: monsters ontvangen en resultaten invoeren" in receiving
    assert "(daarvoor is technician of reviewer of admin nodig)" in receiving
    assert "may not" not in receiving and "needs" not in receiving
    assert "de rol &#39;customer&#39; mag niet: monsters registreren" in registering

    with session_factory.begin() as s:
        customer = seed.user(s, "polyvorm")
        _, token = accounts.create_token(s, customer, customer, "tests")
    answer = client.post(
        "/api/v1/samples", json={"lot": lot.lot_code}, headers={"Authorization": f"Bearer {token}", **DUTCH}
    )
    assert answer.status_code == 403
    assert answer.get_json()["message"] == (
        "role 'customer' may not register samples (needs technician or reviewer or admin)"
    )
