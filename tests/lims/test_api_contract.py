"""The API's contract: OpenAPI is served, database errors from bad input are 4xx, and a
request that fails for any reason leaves nothing half-written."""

from __future__ import annotations

import pytest
from flask import jsonify
from sqlalchemy import select

from lims.app import create_app
from lims.kernel.models import Organization
from lims.web.request_db import db

pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)


def test_openapi_describes_the_lims_resources(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/samples", "/api/v1/samples/{code}", "/api/v1/analyses/{analysis_id}/result",
                 "/api/v1/imports/results", "/api/v1/lots", "/api/v1/grade-specs", "/api/v1/audit/verify"):
        assert path in spec["paths"], path
    assert "bearer" in spec["components"]["securitySchemes"]
    assert spec["security"] == [{"bearer": []}]
    assert spec["paths"]["/api/v1/auth/login"]["post"]["security"] == []
    assert "unit" in spec["components"]["schemas"]["Result"]["required"]


def test_integrity_errors_become_4xx_and_programming_errors_roll_back(database_url, tmp_path):
    app = create_app(database_url=database_url, var_dir=tmp_path, secret_key="t")

    @app.post("/api/v1/_probe/duplicate")
    def duplicate():
        db().add(Organization(key="dup", name="One", kind="customer"))
        db().flush()
        db().add(Organization(key="dup", name="Two", kind="customer"))
        db().flush()
        return jsonify(done=True)

    @app.post("/api/v1/_probe/value")
    def value():
        db().add(Organization(key="half", name="Half-written", kind="customer"))
        db().flush()
        raise ValueError("naive datetime given")

    client = app.test_client()
    r = client.post("/api/v1/_probe/duplicate")
    assert r.status_code == 409 and r.get_json()["errors"]["json"] == {"key": ["conflicts with existing data"]}
    # A ValueError is a programming error, not the client's: 500, and still nothing written.
    r = client.post("/api/v1/_probe/value")
    assert r.status_code == 500 and "naive datetime" not in r.get_data(as_text=True)
    with app.extensions["recyclab.sessions"]() as session:
        assert session.scalars(select(Organization.key)).all() == []
    app.extensions["recyclab.engine"].dispose()


def test_openapi_names_what_each_list_may_be_sorted_by(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path, key in (("/api/v1/samples", "-sample_id"), ("/api/v1/lots", "code"), ("/api/v1/certificates", "issued_at")):
        (sort,) = [p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == "sort"]
        assert key in sort["schema"]["enum"], (path, sort)
