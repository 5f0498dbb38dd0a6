"""Item 2: a write authenticated only by the session cookie needs the page's CSRF token, so a
page on another origin cannot make a logged-in user's browser change anything. Bearer-token
clients are unaffected."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from lims.kernel.models import Analysis, Lot
from tests.lims.conftest import PP_LOT, analyses_by_method, ok, register
from tests.support.api_client import API


def _login(client, username: str, password: str) -> None:
    ok(client.post(f"{API}/auth/login", json={"username": username, "password": password}))


def _lots(session_factory) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(Lot))


def test_session_write_without_the_token_is_refused_with_it_accepted(lab, session_factory):
    client = lab.client
    _login(client, "tech", "demo-tech")
    refused = client.post(f"{API}/lots", json=PP_LOT)
    assert refused.status_code == 403, refused.get_data(as_text=True)
    assert "X-CSRFToken" in refused.get_json()["message"]
    assert _lots(session_factory) == 0
    token = ok(client.get(f"{API}/auth/csrf"))["csrf_token"]
    ok(client.post(f"{API}/lots", json=PP_LOT, headers={"X-CSRFToken": token}), 201)
    assert _lots(session_factory) == 1


def test_form_encoded_bodies_do_not_import_results_with_the_cookie(lab, session_factory):
    tech = lab.as_("tech")
    sample = register(tech)
    assert "mfr_230_2_16" in analyses_by_method(sample)
    csv = f"sample_id,method,value,unit\n{sample['sample_id']},mfr_230_2_16,1.5,g/10 min\n"
    client = lab.client
    _login(client, "reviewer", "demo-reviewer")
    attempts = [
        {"data": csv, "content_type": "text/plain"},
        {"data": {"csv": csv}, "content_type": "application/x-www-form-urlencoded"},
        {"data": {"file": (io.BytesIO(csv.encode()), "r.csv")}, "content_type": "multipart/form-data"},
        {"data": csv, "content_type": "text/csv"},
    ]
    for kwargs in attempts:
        response = client.post(f"{API}/imports/results", **kwargs)
        assert response.status_code == 403, (kwargs["content_type"], response.status_code)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Analysis).where(Analysis.value.is_not(None))) == 0
    # The same file is importable by the same user with a token: the refusals were the CSRF check.
    reviewer = lab.as_("reviewer")
    assert ok(reviewer.post("/imports/results", data=csv, content_type="text/csv"), 201)["imported"] == 1


def test_bearer_token_writes_need_no_csrf_token(lab):
    ok(lab.as_("tech").post("/lots", json=PP_LOT), 201)


def test_a_browser_request_from_another_origin_is_refused_even_anonymous(client, seeded):
    creds = {"username": "tech", "password": "demo-tech"}
    refused = client.post(f"{API}/auth/login", json=creds, headers={"Sec-Fetch-Site": "same-site"})
    assert refused.status_code == 403
    ok(client.post(f"{API}/auth/login", json=creds, headers={"Sec-Fetch-Site": "same-origin"}))
