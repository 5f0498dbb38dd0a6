"""Grade model pages: the versions in the registry, one version's metrics against the
baselines, its confusion matrix and calibration, and predicted against lab grade."""

from __future__ import annotations

from flask import abort, render_template
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from analytics import model_registry
from lims.kernel.models.analytics import ModelVersion, Prediction
from lims.permissions import Capability
from lims.web.auth import login_required
from lims.web.errors import web_blueprint
from lims.web.request_db import db

bp = web_blueprint("models_pages", __name__, url_prefix="/models")

RECENT_PREDICTIONS = 50


@bp.get("/")
@login_required(Capability.SEE_MODELS)
def versions():
    versions = model_registry.list_versions(db())
    return render_template(
        "models/versions.html", versions=versions,
        not_beaten={v.id: model_registry.baselines_not_beaten(v.metrics) for v in versions},
    )


def _agreement(version_id: int) -> dict[tuple[str, str], int]:
    """(predicted, lab) -> number of predictions of this version whose lab grade is known."""
    rows = db().execute(
        select(Prediction.predicted_grade, Prediction.lab_grade, func.count())
        .where(Prediction.model_version_id == version_id, Prediction.lab_grade.is_not(None))
        .group_by(Prediction.predicted_grade, Prediction.lab_grade)
    )
    return {(predicted, lab): n for predicted, lab, n in rows}


def calibration_points(reliability: list[dict], size: int = 260, pad: int = 30) -> list[dict]:
    """Reliability-curve bins placed on a size x size plot (confidence right, accuracy up)."""
    scale = size - 2 * pad
    return [
        {
            "x": pad + b["confidence"] * scale,
            "y": size - pad - b["accuracy"] * scale,
            "r": 2 + min(8.0, b["count"] ** 0.5 / 2),
            **b,
        }
        for b in reliability
    ]


@bp.get("/<version>")
@login_required(Capability.SEE_MODELS)
def version(version: str):
    mv = db().scalar(select(ModelVersion).where(ModelVersion.version == version))
    if mv is None:
        abort(404)
    metrics = mv.metrics or {}
    agreement = _agreement(mv.id)
    lab_grades = sorted({lab for _, lab in agreement} | set(mv.classes))
    recent = list(
        db().scalars(
            select(Prediction)
            .where(Prediction.model_version_id == mv.id)
            .options(joinedload(Prediction.lot))
            .order_by(Prediction.id.desc())
            .limit(RECENT_PREDICTIONS)
        )
    )
    return render_template(
        "models/version.html",
        mv=mv,
        metrics=metrics,
        classes=mv.classes,
        baselines=[(name, metrics[name]) for name in ("model", *model_registry.BASELINES) if name in metrics],
        not_beaten=model_registry.baselines_not_beaten(metrics),
        calibration=calibration_points(metrics.get("model", {}).get("reliability", [])),
        agreement=agreement,
        lab_grades=lab_grades,
        recent=recent,
    )
