"""Item 6: a request body over the limit is refused with 413 before it is read; the routes
that take files accept larger ones."""

from __future__ import annotations

import io

from tests.support.api_client import API

MB = 1024 * 1024


def test_oversized_anonymous_bodies_are_refused(client, seeded):
    password = "x" * (2 * MB)
    api = client.post(f"{API}/auth/login", json={"username": "tech", "password": password})
    assert api.status_code == 413
    assert api.is_json
    page = client.post("/login", data={"username": "tech", "password": password})
    assert page.status_code == 413
    assert "too large" in page.get_data(as_text=True)


def test_uploads_have_a_larger_limit(lab):
    tech = lab.as_("tech")
    big_csv = "sample_id,method,value,unit\n" + "NTK-2026-999999,mfr,1,g\n" * (3 * MB // 24)
    response = tech.post("/imports/results", data=big_csv, content_type="text/csv")
    assert response.status_code == 422, response.status_code  # read and judged row by row
    too_big = tech.post("/imports/results", data=big_csv * 3, content_type="text/csv")
    assert too_big.status_code == 413
    # A certificate file a little under its own 512 kB limit, as a multipart upload.
    document = b'{"format": "x", "pad": "' + b"x" * (500 * 1024) + b'"}'
    verify = lab.client.post(f"{API}/public/certificates/verify",
                             data={"file": (io.BytesIO(document), "c.json")},
                             content_type="multipart/form-data")
    assert verify.status_code == 200 and verify.get_json()["valid"] is False
