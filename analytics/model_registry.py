"""Model registry: versions and their artifacts (skops bytes) in the LIMS database.

The artifact lives in the database (table model_artifact, keyed by its SHA-256), so a model
trained by one process (the CLI, another host) is loaded by every web process whatever file
system each has; a copy is written beside the training plots for people. An artifact is loaded
only when its SHA-256 matches the one recorded when it was registered, and then only with
skops' explicit list of trusted types: never with bare pickle.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import skops.io as sio
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from lims.audit import service as audit
from lims.kernel.clock import utcnow
from lims.kernel.models.analytics import ModelArtifact, ModelVersion

# What a trained grade pipeline holds beyond the types skops trusts by default (sklearn
# estimators, numpy arrays). A type not listed here makes loading fail instead of running
# unknown code. functools.partial is listed because the boosted model keeps one wrapping
# sklearn.utils.validation.check_array, which is listed too (and nothing else callable). The
# calibration types are those of versions trained before the temperature was applied to the
# pooled grade probabilities (a rollback may bring one back).
TRUSTED_TYPES = [
    "functools.partial",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._TemperatureScaling",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils.validation.check_array",
]


# What a process engineer would go by without a model: logistic regression on the same
# features, each material's usual grade, the previous lot's grade on the same line, the most
# frequent grade. A model that does not beat every one of them on the held-out newer lots is
# neither promoted nor served.
BASELINES = ("logistic_regression", "material_usual", "persistence", "majority")


def baselines_not_beaten(metrics: dict | None) -> list[str]:
    """The baselines whose macro-F1 on the held-out newer lots the model does not beat (a
    baseline the version was not evaluated against counts as not beaten)."""
    metrics = metrics or {}
    model = metrics.get("model", {}).get("macro_f1")
    if model is None:
        return list(BASELINES)
    return [b for b in BASELINES if b not in metrics or metrics[b]["macro_f1"] >= model]


class ArtifactRefused(RuntimeError):
    """The artifact is missing or not the one the registry recorded."""


class RegistryError(ValueError):
    pass


class NotPromotable(RegistryError):
    """The version does not beat every baseline on its held-out newer lots."""


def save_artifact(obj: object, path: Path, session: Session) -> str:
    """Store the artifact in the database (once per content) and write the copy at `path`;
    returns its SHA-256."""
    data = sio.dumps(obj)
    sha = hashlib.sha256(data).hexdigest()
    if session.get(ModelArtifact, sha) is None:
        session.add(ModelArtifact(sha256=sha, data=data))
        session.flush()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return sha


def load_artifact(session: Session, path: Path, expected_sha256: str) -> object:
    """The artifact from the database; a version registered before artifacts were kept there is
    read from its file. Refused unless its SHA-256 is the recorded one."""
    row = session.get(ModelArtifact, expected_sha256)
    if row is not None:
        data, source = row.data, "the database"
    else:
        try:
            data, source = path.read_bytes(), str(path)
        except OSError as exc:
            raise ArtifactRefused(
                f"artifact {expected_sha256} is not in the database and {path} cannot be read: {exc}"
            ) from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise ArtifactRefused(
            f"artifact from {source} has sha256 {actual}, the registry recorded {expected_sha256}: refused"
        )
    return sio.loads(data, trusted=TRUSTED_TYPES)


def load_version_artifact(mv: ModelVersion) -> object:
    return load_artifact(object_session(mv), Path(mv.artifact_path), mv.artifact_sha256)


def get_version(session: Session, version: str) -> ModelVersion:
    mv = session.scalar(select(ModelVersion).where(ModelVersion.version == version))
    if mv is None:
        raise RegistryError(f"no model version {version!r}")
    return mv


def production(session: Session) -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(ModelVersion.status == "production"))


def list_versions(session: Session) -> list[ModelVersion]:
    return list(session.scalars(select(ModelVersion).order_by(ModelVersion.created_at.desc(), ModelVersion.id.desc())))


def promote(session: Session, version: str, who: str) -> ModelVersion:
    """Make ``version`` the production model; the previous production model is retired.
    `who` (the operator) is recorded in the audit trail with the change."""
    mv = get_version(session, version)
    if mv.status == "production":
        return mv
    not_beaten = baselines_not_beaten(mv.metrics)
    if not_beaten:
        raise NotPromotable(
            f"{version} does not beat {', '.join(not_beaten)} on the held-out newer lots: not promoted"
        )
    current = production(session)
    if current is not None:
        current.status = "retired"
    mv.status = "production"
    mv.promoted_at = utcnow()
    _record(session, who, "model.promote", mv, current, mv)
    return mv


def _record(
    session: Session, who: str, action: str, subject: ModelVersion, was: ModelVersion | None, now: ModelVersion
) -> None:
    """Which model grades the lots is traceable: who changed the production model, from which
    version to which, and when (the event's time)."""
    audit.record(
        session, None, action, "model_version", subject.version,
        {"production": was.version} if was is not None else None, {"production": now.version}, who=who,
    )


def rollback(session: Session, who: str) -> ModelVersion:
    """Retire the production model and bring back the one promoted before it; `who` (the
    operator) is recorded in the audit trail with the change.

    The rolled-back model leaves the promotion history (promoted_at cleared), so repeated
    rollbacks walk further back instead of toggling between two versions.
    """
    current = production(session)
    if current is None:
        raise RegistryError("no production model to roll back")
    previous = session.scalar(
        select(ModelVersion)
        .where(ModelVersion.id != current.id, ModelVersion.promoted_at.is_not(None))
        .where(ModelVersion.promoted_at <= current.promoted_at)
        .order_by(ModelVersion.promoted_at.desc())
        .limit(1)
    )
    if previous is None:
        raise RegistryError(f"{current.version} is the only model promoted; nothing to roll back to")
    # Promote's rule: a version promoted before it (or by hand) would come back unserved.
    not_beaten = baselines_not_beaten(previous.metrics)
    if not_beaten:
        raise NotPromotable(
            f"{previous.version} does not beat {', '.join(not_beaten)} on the held-out newer lots: not"
            f" rolled back ({current.version} stays in production; promote a version that does)"
        )
    current.status = "retired"
    current.promoted_at = None
    current.note = (current.note + " rolled back").strip()
    session.flush()
    previous.status = "production"
    _record(session, who, "model.rollback", current, current, previous)
    return previous
