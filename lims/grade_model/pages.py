"""Grade model pages: the versions in the registry, one version's metrics against the
baselines, its confusion matrix and calibration, its latest feature drift, and predicted
against lab grade."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from analytics import drift, model_registry, predict
from analytics.model_registry import ArtifactRefused
from ingest.registry import load_registry
from ingest.store import StoreError
from lims.grade_model import card
from lims.grade_model.card import Reading
from lims.kernel.models.analytics import ModelVersion, Prediction
from lims.kernel.models.reference import Sensor
from lims.permissions import Capability, get_lot
from lims.web.auth import current_user, login_required
from lims.web.errors import web_blueprint
from lims.web.request_db import db
from lims.web.timeseries import timeseries_store

bp = web_blueprint("models_pages", __name__, url_prefix="/models")

RECENT_PREDICTIONS = 50
# What the pages call the model and the baselines it has to beat (model_registry.BASELINES).
COMPARED = {
    "model": _l("this model"),
    "logistic_regression": _l("baseline: logistic regression"),
    "material_usual": _l("baseline: the material's usual grade"),
    "persistence": _l("baseline: the line's previous lot"),
    "majority": _l("baseline: majority class"),
}

# A drift level in words, and the badge it is shown with.
DRIFT_LEVELS = {
    "stable": (_l("stable"), "ok"),
    "moderate": (_l("moderate shift"), "warn"),
    "major": (_l("major shift"), "bad"),
    "no data": (_l("no recent values"), "stale"),
    drift.NO_LOTS: (_l("no lots in the window"), "stale"),
}
# The features the chart draws, as many as `recyclab model drift` prints by default.
DRIFT_BARS = 20


@bp.get("/")
@login_required(Capability.SEE_MODELS)
def versions():
    versions = model_registry.list_versions(db())
    return render_template(
        "models/versions.html", versions=versions,
        not_beaten={v.id: _named(model_registry.baselines_not_beaten(v.metrics)) for v in versions},
        drift=drift.latest_reports(db()), drift_levels=DRIFT_LEVELS,
    )


def _named(baselines: list[str]) -> list:
    return [COMPARED[b] for b in baselines]


def _agreement(version_id: int, lab_grades: dict[int, str]) -> dict[tuple[str, str], int]:
    """(predicted, lab) -> number of lots with a lab grade, by this version's latest
    prediction of each."""
    rows = db().execute(
        select(Prediction.lot_id, Prediction.predicted_grade)
        .where(Prediction.model_version_id == version_id, Prediction.id.in_(predict.standing_predictions()))
    )
    return dict(Counter((predicted, lab_grades[lot]) for lot, predicted in rows if lot in lab_grades))


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


@dataclass(frozen=True)
class DriftBar:
    feature: str  # the raw key, as `recyclab model drift` prints it
    reading: Reading  # what the pages call it
    installation: str | None  # whose sensor; None for a lot figure
    psi: float | None
    level: str
    y: float
    width: float


@dataclass(frozen=True)
class DriftChart:
    """PSI per feature as horizontal bars, largest first, on a scale from 0 to `top`."""

    bars: list[DriftBar]
    thresholds: list[tuple[float, float]]  # (x, PSI) of the moderate and major lines
    top: float
    not_drawn: int
    width: int = 660
    left: int = 250
    plot_width: int = 260
    row: int = 18
    head: int = 18

    @property
    def installations(self) -> int:
        """How many installations the drawn features come from: past one, a sensor's name
        alone may not say whose it is."""
        return len({bar.installation for bar in self.bars if bar.installation})

    @property
    def height(self) -> int:
        return self.head + self.row * len(self.bars) + 4


def drift_chart(features: list[dict], sensors: dict[str, dict[str, Sensor]], shown: int = DRIFT_BARS) -> DriftChart:
    """The stored report's features (largest PSI first, no-data last) placed on the chart,
    named by their sensors (`sensors`: installation key -> sensor key -> sensor). The scale
    reaches 0.3 at least, so the two thresholds always show, and 1 at most: a larger PSI is a
    major shift whatever its size, and its bar runs to the end."""
    drawn = features[:shown]
    top = min(1.0, max([0.3, *(f["psi"] for f in drawn if f["psi"] is not None)]))

    def x(value: float) -> float:
        return DriftChart.plot_width * min(value, top) / top

    def installation(feature: str) -> str | None:
        parts = feature.split(":")
        return parts[0] if len(parts) == 3 else None

    bars = []
    for i, f in enumerate(drawn):
        inst = installation(f["feature"])
        bars.append(DriftBar(
            f["feature"], card.reading(f, sensors.get(inst or "", {})), inst, f["psi"], f["level"],
            DriftChart.head + i * DriftChart.row, 0.0 if f["psi"] is None else x(f["psi"]),
        ))
    return DriftChart(bars, [(DriftChart.left + x(v), v) for v in (drift.MODERATE, drift.MAJOR)], top,
                      len(features) - len(drawn))


def sensors_by_installation() -> dict[str, dict[str, Sensor]]:
    by_installation: dict[str, dict[str, Sensor]] = {}
    for sensor in db().scalars(select(Sensor).options(joinedload(Sensor.installation))):
        by_installation.setdefault(sensor.installation.key, {})[sensor.key] = sensor
    return by_installation


@bp.get("/<version>")
@login_required(Capability.SEE_MODELS)
def version(version: str):
    mv = db().scalar(select(ModelVersion).where(ModelVersion.version == version))
    if mv is None:
        abort(404)
    metrics = mv.metrics or {}
    # The lab grade as the lab has it now: the copy on a prediction is refreshed only when the
    # lot is predicted again, and a lot graded since would show none.
    lab_grades = {
        lot: grade
        for lot, (grade, _at) in predict.lab_grades(
            db(), select(Prediction.lot_id).where(Prediction.model_version_id == mv.id)
        ).items()
    }
    agreement = _agreement(mv.id, lab_grades)
    graded = sorted({lab for _, lab in agreement} | set(mv.classes))
    recent = list(
        db().scalars(
            select(Prediction)
            .where(Prediction.model_version_id == mv.id)
            .options(joinedload(Prediction.lot))
            .order_by(Prediction.id.desc())
            .limit(RECENT_PREDICTIONS)
        )
    )
    report = drift.latest_report(db(), mv.id)
    return render_template(
        "models/version.html",
        mv=mv,
        drift=report,
        drift_chart=drift_chart(report.features, sensors_by_installation()) if report is not None else None,
        drift_levels=DRIFT_LEVELS,
        metrics=metrics,
        classes=mv.classes,
        compared=COMPARED,
        baselines=[(name, metrics[name]) for name in ("model", *model_registry.BASELINES) if name in metrics],
        not_beaten=_named(model_registry.baselines_not_beaten(metrics)),
        calibration=calibration_points(metrics.get("model", {}).get("reliability", [])),
        agreement=agreement,
        lab_grades=graded,
        lab_grade_of=lab_grades,
        recent=recent,
    )


@bp.post("/lots/<int:lot_id>/predict")
@login_required(Capability.REQUEST_PREDICTIONS)
def predict_lot(lot_id: int):
    """The lot page's "Predict now": lots that came in by the API or the simulator have none
    until someone asks, and a new model's view of an old lot is worth a second look."""
    lot = get_lot(db(), current_user(), lot_id)
    # No savepoint: each refusal below comes before predict_lot writes anything, and on
    # SQLite (the demo) a savepoint that reads, then writes after another process committed,
    # is refused at once ("database is locked").
    try:
        made = predict.predict_lot(db(), timeseries_store(), load_registry(), lot, actor=current_user())
    except (predict.NoProductionModel, StoreError, ArtifactRefused) as exc:
        flash(_("No prediction: %(reason)s", reason=str(exc)), "error")
    else:
        flash(_("Predicted grade: %(grade)s.", grade=made.predicted_grade), "success")
    return redirect(url_for("process.lot", lot_id=lot_id))
