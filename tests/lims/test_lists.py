"""List endpoints: filters, pagination, 4xx naming the field, and no query per row."""

from __future__ import annotations

import json

import pytest

from tests.lims.conftest import PP_LOT, analyses_by_method, ok, register
from tests.support.queries import statements_run

pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)


def _fill(lab) -> dict[str, list[str]]:
    tech = lab.as_("tech")
    pp = register(tech, methods=["ash_3451", "mfr_230_2_16"], description="bumper regrind")
    ok(tech.post("/lots", json=PP_LOT | {"code": "L-EXT1-2026-0043", "owner": "kunststofkringloop"}), 201)
    bulk = [{"lot": "L-EXT1-2026-0043", "methods": ["ash_3451"]}] * 12 + [
        {"material": "cotton", "owner": "vezelwerk", "methods": ["fibre_length"], "storage_location": "Shelf T4"}
    ] * 7
    codes = [s["sample_id"] for s in ok(tech.post("/samples/bulk", json={"samples": bulk}), 201)["samples"]]
    return {"pp": [pp["sample_id"]], "lot43": codes[:12], "cotton": codes[12:]}


def _codes(response) -> list[str]:
    return [s["sample_id"] for s in ok(response)]


def test_sample_list_filters_and_pagination(lab):
    made = _fill(lab)
    tech = lab.as_("tech")
    assert set(_codes(tech.get("/samples", query_string={"line": "dctv"}))) == set(made["cotton"])
    assert set(_codes(tech.get("/samples", query_string={"lot": "L-EXT1-2026-0043"}))) == set(made["lot43"])
    assert _codes(tech.get("/samples", query_string={"state": "received"})) == made["pp"]
    assert _codes(tech.get("/samples", query_string={"q": "regrind"})) == made["pp"]
    # What is typed is searched for as typed: "_" and "%" are not wildcards.
    assert _codes(tech.get("/samples", query_string={"q": "bumper_regrind"})) == []
    assert _codes(tech.get("/samples", query_string={"q": "%"})) == []
    assert len(_codes(tech.get("/samples", query_string={"q": "shelf t4", "material": "cotton"}))) == 7
    assert _codes(tech.get("/samples", query_string={"owner": "polyvorm", "material": "pp"})) == made["pp"]
    assert _codes(tech.get("/samples", query_string={"registered_to": "2020-01-01T00:00:00Z"})) == []
    assert len(_codes(tech.get("/samples", query_string={"registered_from": "2020-01-01T00:00:00Z"}))) == 20

    first = tech.get("/samples", query_string={"page_size": 8})
    assert json.loads(first.headers["X-Pagination"]) | {} == {
        "total": 20, "total_pages": 3, "first_page": 1, "last_page": 3, "page": 1, "next_page": 2
    }
    third = _codes(tech.get("/samples", query_string={"page_size": 8, "page": 3}))
    assert len(third) == 4 and third[-1] == made["pp"][0]  # newest first

    bad = tech.get("/samples", query_string={"state": "lost", "registered_from": "yesterday"})
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]["query"]) == {"state", "registered_from"}
    naive = tech.get("/samples", query_string={"registered_from": "2026-01-01T00:00:00"})
    assert naive.status_code == 422 and "registered_from" in naive.get_json()["errors"]["query"]

    lots = ok(tech.get("/lots", query_string={"owner": "kunststofkringloop", "line": "ntk"}))
    assert [lot["code"] for lot in lots] == ["L-EXT1-2026-0043"]
    ash = ok(tech.get("/analyses", query_string={"method": "ash_3451", "state": "unassigned"}))
    assert len(ash) == 13
    assert ok(tech.get("/analyses", query_string={"sample": made["pp"][0]}))[0]["sample_id"] == made["pp"][0]
    # As typed by hand or pasted from a mail, in any case and with spaces around it, as the
    # certificate search takes them: these two filters found nothing.
    typed = f" {made['pp'][0].lower()} "
    assert {a["sample_id"] for a in ok(tech.get("/analyses", query_string={"sample": typed}))} == set(made["pp"])
    assert set(_codes(tech.get("/samples", query_string={"lot": " l-ext1-2026-0043"}))) == set(made["lot43"])


def test_lot_input_is_checked_field_by_field(lab):
    tech = lab.as_("tech")
    r = tech.post("/lots", json=PP_LOT | {"production_end": PP_LOT["production_start"], "recycled_content_pct": "101"})
    assert r.status_code == 422 and set(r.get_json()["errors"]["json"]) == {"recycled_content_pct"}
    r = tech.post("/lots", json=PP_LOT | {"production_end": PP_LOT["production_start"]})
    assert r.status_code == 422 and "production_end" in r.get_json()["errors"]["json"]
    r = tech.post("/lots", json=PP_LOT | {"material": "cotton"})
    assert r.status_code == 422 and "material" in r.get_json()["errors"]["json"]
    r = tech.post("/lots", json=PP_LOT | {"input_stream": "ocean"})
    assert r.status_code == 422 and "input_stream" in r.get_json()["errors"]["json"]
    ok(tech.post("/lots", json=PP_LOT), 201)
    r = tech.post("/lots", json=PP_LOT)
    assert r.status_code == 422 and "code" in r.get_json()["errors"]["json"]
    assert tech.get("/lots/999").status_code == 404


def test_list_pages_cost_the_same_number_of_queries_for_5_or_50_rows(app, lab):
    tech = lab.as_("tech")
    made = _fill(lab)
    pp = made["pp"][0]
    ok(tech.post(f"/samples/{pp}/partitions", json={"count": 2}), 201)
    ash = analyses_by_method(ok(tech.get(f"/samples/{pp}")))["ash_3451"]
    ok(tech.post(f"/analyses/{ash}/result", json={"value": "0.5", "unit": "%"}))
    with statements_run(app) as statements:
        costs = {}
        for path in ("/samples", "/analyses", "/lots"):
            for size in (5, 50):
                statements.clear()
                ok(tech.get(path, query_string={"page_size": size}))
                costs[(path, size)] = len(statements)
            assert costs[(path, 5)] == costs[(path, 50)], (path, costs)
        # Another order, the same queries (every row fits on the page either way).
        for path, sort in (("/samples", "storage_location"), ("/lots", "-code")):
            statements.clear()
            ok(tech.get(path, query_string={"page_size": 50, "sort": sort}))
            assert len(statements) == costs[(path, 50)], (path, sort, statements)
        statements.clear()
        ok(tech.get(f"/samples/{pp}"))
        assert len(statements) <= 8, statements


def _all_pages(caller, path: str, size: int, **query) -> list[dict]:
    """Every row of a list, page by page, in the order the pages give them."""
    rows, page = [], 1
    while True:
        found = ok(caller.get(path, query_string={**query, "page_size": size, "page": page}))
        rows += found
        if len(found) < size:
            return rows
        page += 1


def test_lists_sort_both_ways_and_pages_neither_repeat_nor_skip_a_row(lab):
    made = _fill(lab)
    tech = lab.as_("tech")
    everything = made["pp"] + made["lot43"] + made["cotton"]
    up = [s["sample_id"] for s in _all_pages(tech, "/samples", 6, sort="sample_id")]
    assert up == sorted(everything)
    down = [s["sample_id"] for s in _all_pages(tech, "/samples", 6, sort="-sample_id")]
    assert down == sorted(everything, reverse=True)
    # Many samples share a state: the tiebreak keeps the pages apart.
    by_state = _all_pages(tech, "/samples", 3, sort="state")
    assert sorted(s["sample_id"] for s in by_state) == sorted(everything)
    assert [s["state"] for s in by_state] == sorted(s["state"] for s in by_state)
    # The sort and the filters together.
    shelf = _all_pages(tech, "/samples", 2, sort="-storage_location", material="cotton")
    assert [s["sample_id"] for s in shelf] == sorted(made["cotton"], reverse=True)

    lots = [lot["code"] for lot in _all_pages(tech, "/lots", 1, sort="code")]
    assert lots == ["L-EXT1-2026-0042", "L-EXT1-2026-0043"]
    assert [lot["code"] for lot in ok(tech.get("/lots", query_string={"sort": "-code"}))] == lots[::-1]
    assert ok(tech.get("/certificates", query_string={"sort": "-issued_at"})) == []


def test_an_unknown_sort_is_a_422_naming_sort_and_what_may_be_sorted_by(lab):
    tech = lab.as_("tech")
    for path, allowed in (("/samples", "-registered_at"), ("/lots", "production_start"), ("/certificates", "-number")):
        bad = tech.get(path, query_string={"sort": "password"})
        assert bad.status_code == 422, path
        (message,) = bad.get_json()["errors"]["query"]["sort"]
        assert allowed in message, (path, message)


def test_a_customer_cannot_sort_by_the_storage_location_it_cannot_see(lab):
    _fill(lab)
    customer = lab.as_("vezelwerk")
    refused = customer.get("/samples", query_string={"sort": "storage_location"})
    assert refused.status_code == 422
    (message,) = refused.get_json()["errors"]["query"]["sort"]
    assert "storage_location" not in message and "sample_id" in message
    assert len(ok(customer.get("/samples", query_string={"sort": "-sample_id"}))) == 7
    assert ok(lab.as_("tech").get("/samples", query_string={"sort": "storage_location"}))


def test_the_admins_lists_of_tokens_users_and_organizations_come_in_pages_at_a_fixed_cost(app, lab):
    """The tokens, users and organizations lists were answered whole, the tokens with one
    query per token's owner: a lab with years of instrument PCs and scripts behind it got
    one growing answer and query loop."""
    admin = lab.as_("admin")
    for username in ("tech", "tech2", "reviewer", "engineer", "polyvorm", "vezelwerk"):
        lab.as_(username)  # each mints a token of its own
    # The admin token's first use stamps its last use (once per few minutes, not per list).
    ok(admin.get("/auth/me"))
    with statements_run(app) as statements:
        for path in ("/tokens", "/users", "/organizations"):
            costs = []
            for size in (2, 50):
                statements.clear()
                rows = ok(admin.get(path, query_string={"page_size": size}))
                costs.append(len(statements))
                assert len(rows) == size if size == 2 else len(rows) > 2, (path, rows)
            assert costs[0] == costs[1], (path, costs)
            second = admin.get(path, query_string={"page_size": 2, "page": 2})
            assert json.loads(second.headers["X-Pagination"])["page"] == 2 and len(ok(second)) == 2
    users = {t["user"] for t in ok(admin.get("/tokens", query_string={"page_size": 50}))}
    assert users >= {"admin", "tech", "polyvorm"}
