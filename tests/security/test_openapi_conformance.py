"""Item 9: decimals are documented as they travel (strings with a pattern), range limits are
no longer strings where the schema wants numbers, and the responses of /lots, /lots/{id},
/methods and /methods/{key} validate against the published OpenAPI."""

from __future__ import annotations

import re

import schemathesis
from schemathesis.specs.openapi.checks import response_schema_conformance

from lims.web.schemas import DECIMAL_PATTERN
from tests.lims.conftest import PP_LOT, ok
from tests.support.api_client import API


def test_decimal_fields_are_documented_as_patterned_strings(client):
    spec = client.get(f"{API}/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    for name, field in [("Lot", "recycled_content_pct"), ("LotCreate", "recycled_content_pct"),
                        ("Method", "detection_limit")]:
        prop = schemas[name]["properties"][field]
        assert prop["type"] == "string" and prop["pattern"] == DECIMAL_PATTERN, (name, prop)
        assert "minimum" not in prop and "maximum" not in prop, (name, prop)
    assert re.fullmatch(DECIMAL_PATTERN, "87.50") and not re.fullmatch(DECIMAL_PATTERN, "1e3")


def test_responses_validate_against_the_published_schema(app, lab):
    tech = lab.as_("tech")
    lot = ok(tech.post("/lots", json={**PP_LOT, "recycled_content_pct": "87.5"}), 201)
    method = ok(tech.get("/methods"))[0]["key"]
    schema = schemathesis.openapi.from_wsgi(f"{API}/openapi.json", app)
    headers = {"Authorization": f"Bearer {tech.token}"}
    calls = [
        (f"{API}/lots", {}),
        (f"{API}/lots/{{lot_id}}", {"lot_id": lot["id"]}),
        (f"{API}/methods", {}),
        (f"{API}/methods/{{key}}", {"key": method}),
    ]
    for path, params in calls:
        case = schema[path]["GET"].Case(path_parameters=params)
        response = case.call(headers=headers)
        assert response.status_code == 200, (path, response.status_code)
        case.validate_response(response, checks=[response_schema_conformance], headers=headers)
