"""Every stored grade prediction is in the audit trail: who asked, which model version, which lot."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select

from analytics import predict
from ingest.registry import load_registry
from ingest.store.sqlite_store import SQLiteStore
from lims.kernel.errors import Forbidden
from lims.kernel.models import AuditEvent, Lot, User
from tests.lims.conftest import PP_LOT, ok
from tests.support.models import version_without_artifact


@pytest.fixture
def model_version(session_factory, monkeypatch) -> int:
    """A registered version, and a predictor for it that needs no artifact."""
    with session_factory.begin() as s:
        mv = version_without_artifact("grade-audit", ["A", "B"], status="production")
        s.add(mv)
        s.flush()
        mv_id = mv.id
    fake = SimpleNamespace(version_id=mv_id, version="grade-audit",
                           predict_one=lambda row: predict.Outcome("B", {"A": 0.25, "B": 0.75}))
    monkeypatch.setattr(predict, "production_predictor", lambda session: fake)
    return mv_id


def _prediction_events(session) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "prediction.create")))


def test_a_prediction_asked_for_by_api_is_in_the_audit_trail(lab, session_factory, model_version):
    lot = ok(lab.as_("tech").post("/lots", json=PP_LOT), 201)
    stored = ok(lab.as_("engineer").post(f"/lots/{lot['id']}/prediction", json={}), 201)
    with session_factory() as s:
        # The lot came in with its production ended: the model was asked at once, by no user.
        (at_registration, event) = _prediction_events(s)
    assert (at_registration.actor, at_registration.actor_id) == ("lot registration", None)
    assert (event.actor, event.entity_type, event.entity_id) == ("engineer", "prediction", str(stored["id"]))
    assert event.after["lot"] == PP_LOT["code"] and event.after["lot_id"] == lot["id"]
    assert event.after["model_version"] == "grade-audit" and event.after["model_version_id"] == model_version
    assert event.after["predicted_grade"] == "B"


def test_a_prediction_outside_a_request_names_the_operating_system_account(lab, session_factory, model_version, tmp_path):
    ok(lab.as_("tech").post("/lots", json=PP_LOT), 201)
    with session_factory.begin() as s:
        lot = s.scalar(select(Lot).where(Lot.code == PP_LOT["code"]))
        predict.predict_lot(s, SQLiteStore(tmp_path / "ts.db"), load_registry(), lot, actor=None,
                            who="maria (command line)")
    with session_factory() as s:
        (event,) = [e for e in _prediction_events(s) if e.actor != "lot registration"]
    assert event.actor == "maria (command line)" and event.actor_id is None
    assert event.after["model_version"] == "grade-audit"


def test_a_user_who_may_not_request_predictions_stores_none(lab, session_factory, model_version, tmp_path):
    ok(lab.as_("tech").post("/lots", json=PP_LOT), 201)
    with session_factory() as s:
        lot = s.scalar(select(Lot).where(Lot.code == PP_LOT["code"]))
        customer = s.scalar(select(User).where(User.username == "polyvorm"))
        with pytest.raises(Forbidden):
            predict.predict_lot(s, SQLiteStore(tmp_path / "ts.db"), load_registry(), lot, actor=customer)
