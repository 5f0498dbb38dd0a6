"""Issue 12: the ways around the four-eyes rule and the decision rule, closed."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from lims.kernel.models import ApiToken
from tests.lims.conftest import analyses_by_method, ok, register

CSV_HEADER = "sample_id,method,value,unit,uncertainty,instrument,analyst,measured_at"


def _csv(rows: list[str]):
    return {"file": (io.BytesIO("\n".join([CSV_HEADER, *rows]).encode()), "run.csv")}


def test_the_analyst_named_by_the_submitter_cannot_verify(lab, session_factory):
    tech, reviewer, admin = lab.as_("tech"), lab.as_("reviewer"), lab.as_("admin")
    sample = register(tech, methods=["mfr_230_2_16", "ash_3451"])
    ids = analyses_by_method(sample)
    ok(tech.post(f"/analyses/{ids['mfr_230_2_16']}/result", json={"value": 12, "unit": "g/10 min", "analyst": "reviewer"}))
    ok(tech.post("/imports/results", data=_csv([f"{sample['sample_id']},ash_3451,0.8,%,,,reviewer,"])), 201)
    for analysis_id in ids.values():
        refused = reviewer.post(f"/analyses/{analysis_id}/verify")
        assert refused.status_code == 409, refused.get_data(as_text=True)
        assert "four eyes" in refused.get_json()["message"] and "analyst" in refused.get_json()["message"]
        # The submitter may not verify either; a third person may.
        assert tech.post(f"/analyses/{analysis_id}/verify").status_code == 403  # a technician
        ok(admin.post(f"/analyses/{analysis_id}/verify"))


def test_an_admin_cannot_mint_a_token_for_someone_else(lab, session_factory):
    admin = lab.as_("admin")
    with session_factory() as s:
        before = s.scalar(select(func.count()).select_from(ApiToken))
    refused = admin.post("/tokens", json={"name": "as tech", "user": "tech"})
    assert refused.status_code == 403, refused.get_data(as_text=True)
    assert "owner" in refused.get_json()["message"]
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(ApiToken)) == before
    # Revoking someone else's token stays an admin's right.
    tech_token = ok(lab.as_("tech").post("/tokens", json={"name": "balance PC"}), 201)
    assert admin.delete(f"/tokens/{tech_token['id']}").status_code == 204
    with session_factory() as s:
        assert s.get(ApiToken, tech_token["id"]).revoked_at is not None
