"""A NUL character, which no text holds (and PostgreSQL refuses in any query), is refused where
it comes in, naming the field: in the API as JSON, on pages as a page. Before, it reached the
database, which answered "a number is out of range or a text is too long", naming no field,
and pages got that as JSON."""

from __future__ import annotations

from sqlalchemy import func, select

from lims.kernel.models import Sample, User
from lims.people.accounts import create_token
from tests.support.api_client import Caller
from tests.web.test_pages import csrf_token, log_in


def _api(client, session_factory, username: str) -> Caller:
    with session_factory.begin() as session:
        user = session.scalar(select(User).where(User.username == username))
        _, token = create_token(session, user, user, "tests")
    return Caller(client, username, token)


def test_the_api_names_the_field_that_holds_a_nul(client, seeded):
    tech = _api(client, seeded, "tech")
    searched = tech.get("/samples?q=NTK%00")
    assert searched.status_code == 422, searched.get_data(as_text=True)
    assert "q" in searched.get_json()["errors"]["query"]
    with seeded() as session:
        before = session.scalar(select(func.count()).select_from(Sample))
    sent = tech.post("/samples", json={"material": "pp", "owner": "polyvorm", "storage_location": "shelf\u00001"})
    assert sent.status_code == 422, sent.get_data(as_text=True)
    assert "NUL" in sent.get_json()["errors"]["json"]["storage_location"][0]
    nested = tech.post("/lots", json={"samples": [{"storage_location": "a\u0000"}], "code\u0000": "x"})
    assert nested.status_code == 422
    assert set(nested.get_json()["errors"]["json"]) == {"samples", "code\u0000"}
    assert "storage_location" in nested.get_json()["errors"]["json"]["samples"]["0"]
    with seeded() as session:
        assert session.scalar(select(func.count()).select_from(Sample)) == before


def test_a_page_names_the_field_that_holds_a_nul_on_a_page(client, seeded):
    log_in(client, "tech")
    for path in ("/lab/samples?q=NTK%00", "/lots/?q=%00", "/verify/NTK%00"):
        page = client.get(path)
        assert page.status_code == 422, (path, page.status_code)
        assert page.content_type.startswith("text/html"), path
        assert "NUL" in page.get_data(as_text=True), path
    form = client.post("/lab/receive", data={"code": "NTK\x00", "csrf_token": csrf_token(client, "/lab/receive")})
    assert form.status_code == 422 and form.content_type.startswith("text/html")
    assert "code" in form.get_data(as_text=True)
