"""A value the database refuses, or a database that does not answer, reaches a page as an error
page in the page's language, and the API as JSON: never one for the other."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DataError, OperationalError

from tests.web.test_pages import log_in

# Past PostgreSQL's bigint: as an OFFSET or an id the database itself would refuse it.
HUGE = "9" * 25


def test_a_value_the_database_refuses_gets_an_error_page_on_a_page_and_json_on_the_api(app, client, seeded):
    def refused():
        raise DataError("SELECT 1", {}, Exception("bigint out of range"))

    app.add_url_rule("/lab/refused", "refused", refused)
    app.add_url_rule("/api/v1/refused", "api_refused", refused)
    log_in(client, "tech")
    response = client.get("/lab/refused")
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and response.mimetype == "text/html", page[:200]
    assert "The input was not accepted" in page and "out of range" in page
    assert "bigint" not in page
    dutch = client.get("/lab/refused", headers={"Accept-Language": "nl"})
    assert "Een getal is te groot of een tekst te lang" in dutch.get_data(as_text=True)
    api = client.get("/api/v1/refused")
    assert api.status_code == 422 and api.is_json and "bigint" not in api.get_data(as_text=True)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_page_numbers_and_ids_past_the_databases_integers_mean_no_rows(client, lab):
    """A list page or filter past PostgreSQL's bigint (its OFFSET) or integer (an id) is an
    empty page, as any page past the last one is, on the pages and the API."""
    assert lab.as_("tech").get(f"/lots?page={HUGE}").get_json() == []
    log_in(client, "admin")
    for path in (f"/lots/?page={HUGE}", f"/process/alarms?page={HUGE}", f"/lab/samples?before={HUGE}",
                 f"/lab/samples?material={HUGE}", f"/lab/samples?before=-{HUGE}", f"/admin/audit/?before={HUGE}"):
        response = client.get(path)
        assert response.status_code == 200 and response.mimetype == "text/html", path
    log_in(client, "polyvorm")
    assert client.get(f"/certificates/?page={HUGE}").status_code == 200


def test_a_database_that_does_not_answer_gets_an_error_page_asking_to_retry(app, client, seeded):
    def busy():
        raise OperationalError("SELECT 1", {}, Exception("database is locked"))

    app.add_url_rule("/lab/busy", "busy", busy)
    log_in(client, "tech")
    response = client.get("/lab/busy")
    page = response.get_data(as_text=True)
    assert response.status_code == 503 and response.mimetype == "text/html", page[:200]
    assert response.headers["Retry-After"] == "1" and "try again" in page.lower()
    assert "database is locked" not in page


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_an_id_in_the_address_past_any_row_is_not_found(client, lab):
    """Ids are PostgreSQL integers: a larger one names no record (404), on a page and on the
    API alike, rather than a query the database refuses."""
    assert lab.as_("engineer").get(f"/lots/{HUGE}").status_code == 404
    assert lab.as_("polyvorm").get(f"/certificates/{HUGE}.pdf").status_code == 404
    log_in(client, "engineer")
    page = client.get(f"/process/lots/{HUGE}")
    assert page.status_code == 404 and page.mimetype == "text/html"
    spec = client.get("/api/v1/openapi.json").get_json()
    path = spec["paths"]["/api/v1/lots/{lot_id}"]
    lot_id = next(p for p in path.get("parameters", []) + path["get"].get("parameters", []) if p["name"] == "lot_id")
    assert lot_id["schema"]["maximum"] == 2**31 - 1
