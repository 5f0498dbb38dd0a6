"""Item 8: the public endpoints are rate-limited per client address (counted in the database,
so across web processes); the public status shows a withdrawal category, never the free text."""

from __future__ import annotations

import pytest

from lims.web import limits
from tests.certificates import support
from tests.lims.conftest import ok
from tests.support.api_client import API


def test_public_lookups_are_rate_limited_per_address(app, client, seeded):
    from lims.app import create_app

    other = create_app(app.config["RECYCLAB"]).test_client()  # a second web process
    me = {"REMOTE_ADDR": "10.1.1.1"}
    statuses = []
    for i in range(limits.PUBLIC_REQUESTS):
        c = client if i % 2 else other
        path = f"{API}/public/certificates/NTK-COA-2026-{i:06d}" if i % 3 else f"/verify/NTK-COA-2026-{i:06d}"
        statuses.append(c.get(path, environ_base=me).status_code)
    assert set(statuses) == {404}
    api = client.get(f"{API}/public/certificates/NTK-COA-2026-000999", environ_base=me)
    assert api.status_code == 429 and int(api.headers["Retry-After"]) > 0
    assert "requests a minute" in api.get_json()["message"]
    page = other.get("/verify/NTK-COA-2026-000999", environ_base=me)
    assert page.status_code == 429 and "Retry-After" in page.headers
    # Another address is served.
    assert client.get("/verify/NTK-COA-2026-000999", environ_base={"REMOTE_ADDR": "10.1.1.2"}).status_code == 404
    # Logged-in work is not counted against the public limit.
    assert client.get(f"{API}/auth/me", environ_base=me).status_code == 401


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_the_public_status_shows_a_category_not_the_reason(lab, session_factory):
    with session_factory.begin() as s:
        tech, reviewer = support.user(s, "tech"), support.user(s, "reviewer")
        sample = support.verified_sample(s, tech, reviewer, support.make_lot(s, tech, "L-PUB-1")).code
    reviewer = lab.as_("reviewer")
    number = ok(reviewer.post("/certificates", json={"sample": sample}), 201)["number"]
    secret = "customer Acme Plastics BV complained"
    ok(reviewer.post(f"/samples/{sample}/invalidate", json={"reason": secret}))
    status = ok(lab.client.get(f"{API}/public/certificates/{number}"))
    assert status["status"] == "withdrawn"
    assert status["withdrawal_category"] == "results invalidated after issue"
    page = lab.client.get(f"/verify/{number}").get_data(as_text=True)
    assert "results invalidated after issue" in page
    for public in (str(status), page):
        assert "Acme" not in public
