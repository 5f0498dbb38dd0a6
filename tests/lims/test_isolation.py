"""A customer sees only its own organization's data: walk every endpoint of the app (app.url_map)
as a customer of another organization, with the foreign objects' ids and keys, and find none of
their data in any answer, and no change to them."""

from __future__ import annotations

import itertools

from sqlalchemy import func, select
from werkzeug.routing import AnyConverter, IntegerConverter

from lims.kernel.models import Analysis, ApiToken, Sample, User
from tests.lims.conftest import analyses_by_method, ok, register


def _foreign_world(lab) -> dict:
    """Polyvorm's lot, a verified and certified sample with results, and a token of the lab's."""
    tech, reviewer = lab.as_("tech"), lab.as_("reviewer")
    sample = register(tech, methods=["ash_3451"], storage_location="Rack P1")
    code = sample["sample_id"]
    ash = analyses_by_method(sample)["ash_3451"]
    ok(tech.post(f"/analyses/{ash}/result", json={"value": "0.42", "unit": "%"}))
    ok(reviewer.post(f"/analyses/{ash}/verify"))
    cert_json = ok(reviewer.post("/certificates", json={"sample": code}), 201)
    lot = ok(tech.get("/lots"))[0]
    return {
        "code": code,
        "lot_code": lot["code"],
        "lot_id": lot["id"],
        "analysis_id": ash,
        "cert_id": cert_json["id"],
        "cert_number": cert_json["number"],
    }


# Whoever holds a certificate (its number) may check it: public by design, not a leak.
PUBLIC_BY_DESIGN = ("public_certificates.", "verify.")

BODIES = [
    {},
    {"reason": "walk"},
    {"value": "1.0", "unit": "%"},
    {"count": 1},
    {"storage_location": "walk"},
    {"name": "walk"},
    {"sample": None},
]


def test_customer_of_another_org_sees_nothing_foreign_anywhere(app, lab, session_factory):
    world = _foreign_world(lab)
    mine = register(lab.as_("tech"), lot=None, receive=False, material="cotton", owner="vezelwerk")
    BODIES[-1] = {"sample": world["code"]}
    with session_factory() as s:
        token_id = s.scalar(select(ApiToken.id))
        foreign_state = s.execute(select(Sample.code, Sample.state)).all()
        foreign_analyses = s.execute(select(Analysis.id, Analysis.state, Analysis.value)).all()
        users = s.scalar(select(func.count()).select_from(User))

    client = app.test_client()
    ok(client.post("/api/v1/auth/login", json={"username": "vezelwerk", "password": "demo-vezelwerk"}))
    headers = {"Authorization": f"Bearer {lab.as_('vezelwerk').token}"}
    markers = {"polyvorm", world["code"].lower(), world["lot_code"].lower(), world["cert_number"].lower()}

    strings = [world["code"], "polyvorm", world["lot_code"], "tech", "pp", world["cert_number"]]
    ints = sorted({world["lot_id"], world["analysis_id"], token_id, world["cert_id"]})
    queries = [{}, {"owner": "polyvorm"}, {"lot": world["lot_code"]}, {"sample": world["code"]},
               {"q": "NTK"}, {"material": "pp"}]
    calls = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith(PUBLIC_BY_DESIGN):
            continue
        values = [_candidates(rule._converters[a], ints, strings) for a in rule.arguments]
        for combo in itertools.product(*values):
            kwargs = dict(zip(rule.arguments, combo, strict=True))
            if "fmt" in kwargs:
                kwargs["fmt"] = "pdf"
            url = _build(app, rule, kwargs)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                variants = queries if method == "GET" else BODIES
                for variant in variants:
                    if method == "GET":
                        r = client.get(url, headers=headers, query_string=variant)
                    else:
                        r = client.open(url, method=method, headers=headers, json=variant)
                    calls += 1
                    body = r.get_data(as_text=True).lower() if r.mimetype.startswith(("application/json", "text/")) else ""
                    where = f"{method} {url} {variant} -> {r.status_code}"
                    assert r.status_code < 500, where
                    # An answer may repeat what was asked (an error message, a login page's
                    # "next" link); every request is made with other markers absent too.
                    asked = f"{url} {variant}".lower()
                    leaked = [m for m in markers if m in body and m not in asked]
                    assert not leaked, f"{where} shows {leaked}"
                    if r.status_code < 300 and r.mimetype in ("application/pdf", "image/png"):
                        raise AssertionError(f"{where} served a file")

    assert calls > 1000
    # The walk could have found something: the customer does see its own sample.
    own = client.get("/api/v1/samples", headers=headers).get_json()
    assert [s["sample_id"] for s in own] == [mine["sample_id"]]
    with session_factory() as s:
        assert s.execute(select(Sample.code, Sample.state)).all() == foreign_state
        assert s.execute(select(Analysis.id, Analysis.state, Analysis.value)).all() == foreign_analyses
        assert s.scalar(select(func.count()).select_from(User)) == users


def _candidates(converter, ints: list[int], strings: list[str]) -> list:
    """Values to put in a URL argument: ids for int arguments, the choices of an any(...)
    argument, foreign codes and keys for the rest."""
    if isinstance(converter, IntegerConverter):  # the app's own RowId among them
        return ints
    if isinstance(converter, AnyConverter):
        return sorted(converter.items)
    return strings


def _build(app, rule, kwargs) -> str:
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **kwargs)
