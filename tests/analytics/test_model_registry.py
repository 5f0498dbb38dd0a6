"""Model registry: artifacts load only when their hash matches and their types are trusted;
promote and rollback move the production flag (CLI on both database backends)."""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime

import numpy as np
import pytest
import skops.io as sio
from click.testing import CliRunner
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sqlalchemy import select

from analytics import model_registry as registry
from analytics.cli import model_group
from lims.kernel.models.analytics import ModelArtifact, ModelVersion

pytestmark = pytest.mark.parametrize("database_url", ["postgres", "sqlite"], indirect=True)


def _tiny_model() -> Pipeline:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.where(X[:, 0] > 0, "A", "B")
    return Pipeline([("model", HistGradientBoostingClassifier(max_iter=5))]).fit(X, y)


def test_an_artifact_is_shared_through_the_database_and_refused_when_tampered(tmp_path, session_factory):
    path = tmp_path / "trainer-var" / "model.skops"
    with session_factory.begin() as s:
        sha = registry.save_artifact(_tiny_model(), path, s)
    path.unlink()  # another process, on another host: the trainer's var dir is not there
    with session_factory() as s:
        loaded = registry.load_artifact(s, path, sha)
    assert list(loaded.predict(np.array([[1.0, 0, 0], [-1.0, 0, 0]]))) == ["A", "B"]

    with session_factory.begin() as s:
        row = s.get(ModelArtifact, sha)
        data = bytearray(row.data)
        data[len(data) // 2] ^= 0x01
        row.data = bytes(data)
    with session_factory() as s, pytest.raises(registry.ArtifactRefused, match="refused"):
        registry.load_artifact(s, path, sha)

    with session_factory.begin() as s:  # swapped for another model
        other = registry.save_artifact(
            _tiny_model().set_params(model__max_iter=6).fit(np.zeros((4, 3)), ["A", "B", "A", "B"]),
            tmp_path / "other.skops", s,
        )
        s.get(ModelArtifact, sha).data = s.get(ModelArtifact, other).data
    with session_factory() as s, pytest.raises(registry.ArtifactRefused):
        registry.load_artifact(s, path, sha)
    with session_factory.begin() as s:
        s.delete(s.get(ModelArtifact, sha))
    with session_factory() as s, pytest.raises(registry.ArtifactRefused, match="cannot be read"):
        registry.load_artifact(s, path, sha)


def test_a_file_artifact_registered_before_the_database_kept_them_still_loads(tmp_path, session_factory):
    path = tmp_path / "old.skops"
    sio.dump(_tiny_model(), path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    with session_factory() as s:
        assert registry.load_artifact(s, path, sha).predict(np.array([[1.0, 0, 0]]))[0] == "A"
    path.write_bytes(path.read_bytes() + b"x")
    with session_factory() as s, pytest.raises(registry.ArtifactRefused, match="refused"):
        registry.load_artifact(s, path, sha)


def test_an_artifact_with_untrusted_types_is_refused_even_when_its_hash_matches(tmp_path, session_factory):
    path = tmp_path / "evil.skops"
    with session_factory.begin() as s:
        sha = registry.save_artifact({"model": functools.partial(print, "pwned")}, path, s)
    with session_factory() as s, pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        registry.load_artifact(s, path, sha)


def _version(session, name: str, created: datetime, baseline_f1: float = 0.5) -> ModelVersion:
    metrics = {"model": {"macro_f1": 0.8, "ece": 0.03}} | {b: {"macro_f1": baseline_f1} for b in registry.BASELINES}
    mv = ModelVersion(
        version=name, created_at=created, metrics=metrics,
        train_start=created, train_end=created, n_train=10, n_test=2, features=[], feature_ranges={},
        reference={}, classes=["A", "B"], artifact_path="/nonexistent", artifact_sha256="0" * 64,
    )
    session.add(mv)
    return mv


def test_promote_and_rollback_walk_the_history(session_factory, database_url, monkeypatch):
    monkeypatch.setenv("RECYCLAB_DATABASE_URL", database_url)
    with session_factory.begin() as s:
        for i, name in enumerate(["v1", "v2", "v3"]):
            _version(s, name, datetime(2026, 1, 1 + i, tzinfo=UTC))
    runner = CliRunner()

    def status() -> dict[str, str]:
        with session_factory() as s:
            return {mv.version: mv.status for mv in s.scalars(select(ModelVersion))}

    assert runner.invoke(model_group, ["rollback"]).exit_code == 1  # nothing in production
    for name in ["v1", "v2", "v3"]:
        result = runner.invoke(model_group, ["promote", name])
        assert result.exit_code == 0, result.output
    assert status() == {"v1": "retired", "v2": "retired", "v3": "production"}

    result = runner.invoke(model_group, ["rollback"])
    assert result.exit_code == 0 and "v2" in result.output
    assert status() == {"v1": "retired", "v2": "production", "v3": "retired"}
    assert runner.invoke(model_group, ["rollback"]).exit_code == 0
    assert status()["v1"] == "production"
    result = runner.invoke(model_group, ["rollback"])
    assert result.exit_code == 1 and "nothing to roll back" in result.output
    assert status()["v1"] == "production"

    result = runner.invoke(model_group, ["promote", "v9"])
    assert result.exit_code == 1 and "no model version 'v9'" in result.output
    listing = runner.invoke(model_group, ["list"]).output
    assert listing.index("v3") < listing.index("v1")  # newest first


def test_a_version_that_does_not_beat_every_baseline_is_not_promoted(session_factory, database_url, monkeypatch):
    monkeypatch.setenv("RECYCLAB_DATABASE_URL", database_url)
    with session_factory.begin() as s:
        _version(s, "good", datetime(2026, 1, 1, tzinfo=UTC))
        tied = _version(s, "tied", datetime(2026, 1, 2, tzinfo=UTC))
        tied.metrics = tied.metrics | {"persistence": {"macro_f1": 0.8}}  # equal is not better
        legacy = _version(s, "legacy", datetime(2026, 1, 3, tzinfo=UTC))
        legacy.metrics = {k: v for k, v in legacy.metrics.items() if k != "material_usual"}
    runner = CliRunner()
    assert runner.invoke(model_group, ["promote", "good"]).exit_code == 0
    for name, missing in (("tied", "persistence"), ("legacy", "material_usual")):
        result = runner.invoke(model_group, ["promote", name])
        assert result.exit_code == 1 and f"does not beat {missing}" in result.output, result.output
    with session_factory() as s:
        assert {mv.version: mv.status for mv in s.scalars(select(ModelVersion))} == {
            "good": "production", "tied": "candidate", "legacy": "candidate"}


def test_every_promotion_and_rollback_is_in_the_audit_trail_with_who_and_when(session_factory, database_url, monkeypatch):
    """Which model grades the lots is a decision QA must be able to trace: who made which version
    the production model, or rolled it back, and when."""
    from lims.audit.service import verify_chain
    from lims.kernel.models import AuditEvent

    monkeypatch.setenv("RECYCLAB_DATABASE_URL", database_url)
    monkeypatch.setenv("USER", "qa-anna")
    monkeypatch.setenv("LOGNAME", "qa-anna")
    with session_factory.begin() as s:
        for i, name in enumerate(["v1", "v2"]):
            _version(s, name, datetime(2026, 1, 1 + i, tzinfo=UTC))
    runner = CliRunner()
    for args in (["promote", "v1"], ["promote", "v2"], ["rollback"]):
        result = runner.invoke(model_group, args)
        assert result.exit_code == 0, result.output
    with session_factory() as s:
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.action.like("model.%")).order_by(AuditEvent.seq)
        ).all()
        trail = [(e.action, e.entity_id, (e.before or {}).get("production"), e.after["production"]) for e in events]
        assert trail == [
            ("model.promote", "v1", None, "v1"),
            ("model.promote", "v2", "v1", "v2"),
            ("model.rollback", "v2", "v2", "v1"),
        ]
        assert all("qa-anna" in e.actor and e.at is not None for e in events)
        assert verify_chain(s).ok


def test_a_rollback_does_not_bring_back_a_model_that_would_not_be_served(session_factory, database_url, monkeypatch):
    """A version promoted before the baseline rule came back by `model rollback` as "production"
    (the command said so) while nothing served it: the lots went unpredicted behind a success.
    The rollback keeps the rule promote keeps, and the current model stays in production."""
    monkeypatch.setenv("RECYCLAB_DATABASE_URL", database_url)
    with session_factory.begin() as s:
        _version(s, "v1", datetime(2026, 1, 1, tzinfo=UTC))
        _version(s, "v2", datetime(2026, 1, 2, tzinfo=UTC))
    runner = CliRunner()
    for name in ("v1", "v2"):
        assert runner.invoke(model_group, ["promote", name]).exit_code == 0
    with session_factory.begin() as s:  # v1 as promoted before the rule: persistence beats it
        v1 = s.scalar(select(ModelVersion).where(ModelVersion.version == "v1"))
        v1.metrics = v1.metrics | {"persistence": {"macro_f1": 0.9}}
    result = runner.invoke(model_group, ["rollback"])
    assert result.exit_code == 1 and "v1 does not beat persistence" in result.output, result.output
    with session_factory() as s:
        assert {mv.version: mv.status for mv in s.scalars(select(ModelVersion))} == {"v1": "retired", "v2": "production"}
