"""Item 5: input that used to end in a 500 is a 422 naming the field: JSON nested deeper than
the decoder's recursion limit, or with a number longer than Python reads, and aware times with no UTC equivalent (year 1 at +14:00 is
year 0 in UTC), on every operation of the published OpenAPI and on the lot form."""

from __future__ import annotations

import re

import pytest

from tests.lims.conftest import PP_LOT, register
from tests.support.api_client import API

DEEP = "[" * 1000
# Python refuses to read an integer of more than 4300 digits (a ValueError, not a JSON error).
LONG_NUMBER = '{"value": ' + "9" * 5000 + "}"
OUT_OF_RANGE = "0001-01-01T00:00:00+14:00"


def _operations(client):
    spec = client.get(f"{API}/openapi.json").get_json()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield re.sub(r"\{[^}]+\}", "1", path), method.upper(), op


def test_deeply_nested_json_is_422_on_every_json_operation(lab):
    admin = lab.as_("admin")
    checked = 0
    for path, method, op in _operations(lab.client):
        if "application/json" not in op.get("requestBody", {}).get("content", {}):
            continue
        for headers in ({"Authorization": f"Bearer {admin.token}"}, {}):
            response = lab.client.open(path, method=method, data=DEEP, headers=headers,
                                       content_type="application/json")
            assert response.status_code < 500, (method, path, response.status_code)
            # Refused as a body (422), or (the certificate check) judged a malformed file.
            if headers and response.status_code not in (403, 404):
                assert response.status_code in (200, 422), (method, path, response.status_code)
                assert "nested too deeply" in str(response.get_json()), (method, path)
        checked += 1
    assert checked >= 10


def test_a_number_too_long_to_read_is_422_on_every_json_operation(lab):
    """A sensor script or a typo pasting thousands of digits gets a refusal, not a 500; the public
    certificate check, which reads its JSON file itself, calls such a file malformed."""
    headers = {"Authorization": f"Bearer {lab.as_('admin').token}"}
    checked = 0
    for path, method, op in _operations(lab.client):
        if "application/json" not in op.get("requestBody", {}).get("content", {}):
            continue
        response = lab.client.open(path, method=method, data=LONG_NUMBER, headers=headers,
                                   content_type="application/json")
        assert response.status_code < 500, (method, path, response.status_code)
        if response.status_code not in (403, 404) and "verify" not in path:
            assert response.status_code == 422, (method, path, response.status_code)
            assert "too many digits" in str(response.get_json()), (method, path)
        checked += 1
    assert checked >= 10
    upload = lab.client.post(f"{API}/public/certificates/verify", data=LONG_NUMBER, content_type="application/json")
    assert upload.status_code == 200 and upload.get_json()["valid"] is False
    assert "too many digits" in upload.get_json()["reason"]


def test_a_time_without_utc_equivalent_is_422_naming_the_field(lab):
    admin = lab.as_("admin")
    headers = {"Authorization": f"Bearer {admin.token}"}
    checked = []
    for path, method, op in _operations(lab.client):
        for param in op.get("parameters", []):
            if param.get("in") == "query" and param.get("schema", {}).get("format") == "date-time":
                response = lab.client.open(path, method=method, headers=headers,
                                           query_string={param["name"]: OUT_OF_RANGE})
                assert response.status_code == 422, (method, path, param["name"], response.status_code)
                assert param["name"] in response.get_json()["errors"]["query"]
                checked.append((path, param["name"]))
    assert len(checked) >= 5, checked
    lot = {**PP_LOT, "production_start": OUT_OF_RANGE}
    response = admin.post("/lots", json=lot)
    assert response.status_code == 422
    assert "out of range" in str(response.get_json()["errors"]["json"]["production_start"])


def _post_lot_form(lab, **fields: str):
    """The technician registers a lot on the Register-lot page, with fields changed."""
    client = lab.client
    csrf = re.compile(r'name="csrf_token" value="([^"]+)"')
    token = csrf.search(client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"username": "tech", "password": "demo-tech", "csrf_token": token})
    token = csrf.search(client.get("/lab/lots/new").get_data(as_text=True)).group(1)
    return client.post("/lab/lots/new", data={
        "csrf_token": token, "code": "L-FORM-1", "installation": "ntk-ext1", "material": "pp",
        "owner": "polyvorm", "input_stream": "post-consumer", "recycled_content_pct": "90",
        "production_start": "2026-03-01T06:00", "production_end": "2026-03-02T14:00",
        "sample_count": "1", **fields,
    })


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_the_lot_form_names_a_start_before_year_1(lab):
    response = _post_lot_form(lab, production_start="0001-01-01T00:00")
    assert response.status_code == 422
    assert "give a year between" in response.get_data(as_text=True)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_the_certificate_search_page_names_an_end_date_at_the_calendars_end(lab):
    client = lab.client
    csrf = re.compile(r'name="csrf_token" value="([^"]+)"')
    token = csrf.search(client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"username": "reviewer", "password": "demo-reviewer", "csrf_token": token})
    for field, value in [("issued_to", "9999-12-31"), ("issued_from", "0001-01-01")]:
        response = client.get("/certificates/", query_string={field: value})
        assert response.status_code == 422, (field, response.status_code)
        assert field in response.get_data(as_text=True)


def test_a_csv_time_without_utc_equivalent_is_422_naming_the_column(lab):
    tech = lab.as_("tech")
    sample = register(tech)
    csv = ("sample_id,method,value,unit,measured_at\n"
           f"{sample['sample_id']},mfr_230_2_16,1.5,g/10 min,{OUT_OF_RANGE}\n")
    response = tech.post("/imports/results", data=csv, content_type="text/csv")
    assert response.status_code == 422
    assert "measured_at" in str(response.get_json()["errors"])


@pytest.mark.parametrize("typed", ["8_5", "８５", "85e0x"])
def test_a_decimal_the_api_documents_as_plain_digits_refuses_other_writing(lab, typed):
    """The OpenAPI says a decimal travels as plain digits (DECIMAL_PATTERN); marshmallow's
    Decimal read "8_5" and full-width "８５" as 85, so the lot was stored with a number its
    technician never wrote."""
    response = lab.as_("tech").post("/lots", json={**PP_LOT, "code": "L-DIGITS-1",
                                                   "recycled_content_pct": typed})
    assert response.status_code == 422, response.get_json()
    assert "recycled_content_pct" in response.get_json()["errors"]["json"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_lot_form_refuses_a_recycled_content_written_with_underscores(lab):
    response = _post_lot_form(lab, recycled_content_pct="8_5")
    assert response.status_code == 422
    assert re.search(r'name="recycled_content_pct".*?field-error', response.get_data(as_text=True), re.S)
