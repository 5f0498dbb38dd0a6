"""Predict a lot's grade from its process window with the production model; store it.

The grade is the most probable one; beside it the off-spec alarm, raised from the off-spec
probability threshold chosen at training (a passed off-spec lot costs more than a false alarm).

Top features of one prediction: for the lot's most important features (global permutation
importance, restricted to those the lot has), the drop in the predicted grade's probability
when the feature is set to the median of the lot's own material in training (a median pooled
over materials mixes PET lines with PP lines). The out-of-training-range flag is raised
when a numeric feature lies outside what training saw, a category was never seen, or the
lot has no process data at all.

Properties: the lab properties the grade is made of, each with its 90 % prediction interval,
and the limits of the grade in question that the interval crosses (the limits at risk).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, with_expression
from threadpoolctl import threadpool_limits

from analytics import model_registry
from analytics.features import CATEGORICAL, lot_features, sensor_count
from analytics.properties import property_intervals
from analytics.train import grade_proba, matrix, off_spec_alarm, window_of_lot
from ingest.registry import Registry
from ingest.store.base import StoreError, TimeSeriesStore
from lims.audit import service as audit
from lims.kernel.clock import utcnow
from lims.kernel.models import Lot, Sample, User
from lims.kernel.models.analytics import ModelVersion, Prediction
from lims.permissions import Capability, require
from lims.samples.lot_search import GIVES_LAB_GRADE, lab_grade_of

log = logging.getLogger(__name__)

TOP_CANDIDATES = 12
TOP_SHOWN = 5


class NoProductionModel(LookupError):
    pass


@dataclass
class Outcome:
    grade: str
    probabilities: dict[str, float]
    top_features: list[dict] = field(default_factory=list)
    out_of_range: list[str] = field(default_factory=list)
    # [{"property", "predicted", "low", "high"}] and [{"property", "grade", "limit", "bound", ...}]
    properties: list[dict] = field(default_factory=list)
    limits_at_risk: list[dict] = field(default_factory=list)
    off_spec_alarm: bool = False


class Predictor:
    """A loaded model version with what prediction needs from its registry row."""

    def __init__(self, mv: ModelVersion, artifact: dict) -> None:
        self.version_id = mv.id
        self.version = mv.version
        self.artifact = artifact
        self.categories = artifact["categories"]
        self.numeric = artifact["numeric"]
        self.classes = [str(c) for c in artifact["model"].classes_]
        self.threshold = artifact.get("off_spec_threshold")
        self.property_models = artifact.get("properties", {})
        self.limits = artifact.get("limits", {})
        self.ranges = mv.feature_ranges["numeric"]
        self.material_medians = mv.feature_ranges.get("material_medians", {})
        self.importance = [
            t["feature"] for t in (mv.metrics or {}).get("permutation_importance", []) if t["mean"] > 0
        ]

    def out_of_range(self, row: dict) -> list[str]:
        out = []
        if sensor_count(row) == 0:
            out.append("no process data")
        for c in CATEGORICAL:
            if str(row.get(c)) not in self.categories.get(c, []):
                out.append(c)
        for name in self.numeric:
            v = row.get(name)
            if v is None or (isinstance(v, float) and np.isnan(v)):
                continue
            r = self.ranges.get(name)
            if r is None or not r[0] <= v <= r[1]:
                out.append(name)
        return out

    def _proba(self, rows: list[dict]) -> np.ndarray:
        return grade_proba(self.artifact, matrix(rows, self.categories, self.numeric))

    def predict_rows(self, rows: list[dict]) -> list[Outcome]:
        """Batch prediction (no per-lot explanation, no properties)."""
        proba = self._proba(rows)
        alarms = off_spec_alarm(proba, self.classes, self.threshold)
        return [self._outcome(p, a, row) for p, a, row in zip(proba, alarms, rows, strict=True)]

    def _outcome(self, p: np.ndarray, alarm: bool, row: dict) -> Outcome:
        return Outcome(
            self.classes[int(p.argmax())], {c: round(float(v), 4) for c, v in zip(self.classes, p, strict=True)},
            out_of_range=self.out_of_range(row), off_spec_alarm=bool(alarm),
        )

    def reference(self, row: dict, feature: str) -> float:
        """What a feature is compared with: its median over the lot's material in training."""
        return self.material_medians.get(str(row.get("material")), {}).get(feature, self.ranges[feature][2])

    def properties(self, row: dict, grade: str) -> tuple[list[dict], list[dict]]:
        """Predicted properties with their intervals, and the limits at risk: those of the
        predicted grade (of the lowest grade for an off-spec prediction) that the interval
        crosses, the one with most of the interval beyond it first."""
        if not self.property_models:
            return [], []
        material = str(row.get("material"))
        M = matrix([row], self.categories, self.numeric)
        intervals = property_intervals(self.property_models, M, [material])
        grades = dict((g, lim) for g, lim in self.limits.get(material, []))
        limits = grades.get(grade) or (self.limits[material][-1][1] if self.limits.get(material) else {})
        graded = grade if grade in grades else (self.limits[material][-1][0] if self.limits.get(material) else None)
        props, risks = [], []
        for prop, b in intervals.items():
            if prop not in limits and material not in self.property_models[prop]["halfwidth"]:
                continue  # a property this material's test plan does not measure
            # Rounded before the limits are compared: a bound shown equal to a limit does not cross it.
            centre, low, high = (round(float(x), 4) for x in b[0])
            props.append({"property": prop, "predicted": centre, "low": low, "high": high})
            lo_lim, hi_lim = limits.get(prop, (None, None))
            for bound, limit, beyond in (("min", lo_lim, None if lo_lim is None else lo_lim - low),
                                         ("max", hi_lim, None if hi_lim is None else high - hi_lim)):
                if limit is not None and beyond > 0:
                    risks.append({"property": prop, "grade": graded, "bound": bound, "limit": limit,
                                  "share_beyond": round(min(beyond / max(high - low, 1e-12), 1.0), 3)})
        risks.sort(key=lambda r: -r["share_beyond"])
        return props, risks

    def predict_one(self, row: dict) -> Outcome:
        """One lot with its top features: one batch call for the lot and its what-ifs."""
        candidates = [f for f in self.importance if f in row and f not in CATEGORICAL and f in self.ranges][:TOP_CANDIDATES]
        variants = [row] + [{**row, f: self.reference(row, f)} for f in candidates]
        # A dozen rows: threads cost more to wake than they save.
        with threadpool_limits(limits=1, user_api="openmp"):
            proba = self._proba(variants)
            outcome = self._outcome(proba[0], off_spec_alarm(proba[:1], self.classes, self.threshold)[0], row)
            outcome.properties, outcome.limits_at_risk = self.properties(row, outcome.grade)
        k = self.classes.index(outcome.grade)
        contributions = [
            {"feature": f, "value": round(float(row[f]), 4), "material_median": round(self.reference(row, f), 4), "contribution": round(float(proba[0][k] - proba[i + 1][k]), 4)}
            for i, f in enumerate(candidates)
        ]
        contributions.sort(key=lambda c: -abs(c["contribution"]))
        outcome.top_features = contributions[:TOP_SHOWN]
        return outcome


_cache: dict[tuple[int, str], Predictor] = {}
_cache_lock = threading.Lock()


def load_predictor(mv: ModelVersion) -> Predictor:
    """The version's predictor; the artifact is read (and its hash checked) once per process."""
    key = (mv.id, mv.artifact_sha256)
    with _cache_lock:
        if key not in _cache:
            artifact = model_registry.load_version_artifact(mv)
            _cache[key] = Predictor(mv, artifact)
        return _cache[key]


def production_predictor(session: Session) -> Predictor:
    mv = model_registry.production(session)
    if mv is None:
        raise NoProductionModel("no production grade model; train one and `recyclab model promote` it")
    # A version promoted before the rule (or by hand in the database) is not served either.
    not_beaten = model_registry.baselines_not_beaten(mv.metrics)
    if not_beaten:
        raise NoProductionModel(f"the production model {mv.version} does not beat {', '.join(not_beaten)} on its held-out lots: not served")
    return load_predictor(mv)


def predict_lot(
    session: Session,
    store: TimeSeriesStore,
    registry: Registry,
    lot: Lot,
    sample: Sample | None = None,
    predictor: Predictor | None = None,
    *,
    actor: User | None,
    who: str = "system",
) -> Prediction:
    """Predict and store the grade of a lot (optionally on behalf of one of its samples), in the
    audit trail under who asked: the user, or `who` (e.g. the operating-system account that ran
    a command) when no user of the LIMS does."""
    if actor is not None:
        require(actor, Capability.REQUEST_PREDICTIONS)
    predictor = predictor or production_predictor(session)
    window = window_of_lot(lot)
    row = lot_features(store, registry.installations[window.installation], window)
    outcome = predictor.predict_one(row)
    prediction = Prediction(
        lot_id=lot.id,
        sample_id=sample.id if sample is not None else None,
        model_version_id=predictor.version_id,
        predicted_grade=outcome.grade,
        probabilities=outcome.probabilities,
        top_features=outcome.top_features,
        out_of_training_range=bool(outcome.out_of_range),
        out_of_range_features=outcome.out_of_range,
        details={"off_spec_alarm": outcome.off_spec_alarm, "properties": outcome.properties, "limits_at_risk": outcome.limits_at_risk},
    )
    session.add(prediction)
    session.flush()
    audit.record(session, actor, "prediction.create", "prediction", prediction.id, None, {
        # What was asked and answered; the explanation stays on the prediction row.
        "lot_id": lot.id, "lot": lot.code, "sample": sample.code if sample is not None else None,
        "model_version_id": predictor.version_id, "model_version": predictor.version,
        "predicted_grade": outcome.grade, "off_spec_alarm": outcome.off_spec_alarm,
        "out_of_training_range": bool(outcome.out_of_range),
    }, who=who)
    return session.scalars(_lab_graded(select(Prediction).where(Prediction.id == prediction.id))).one()


def predict_if_served(
    session: Session, store: TimeSeriesStore, registry: Registry, lot: Lot, *, actor: User | None,
    who: str = "system", predictor: Predictor | None = None,
) -> Prediction | None:
    """The production model's grade for a lot that has come in (registered on a page, sent by
    the pilot line through the API or the simulator, or left open when a model was promoted),
    before the lab is done. None, with the reason in the log, when no model is served, the
    store does not answer or the artifact is refused; a fault of the model is logged too. The
    lot stays either way: the prediction is made in a savepoint."""
    try:
        with session.begin_nested():
            return predict_lot(session, store, registry, lot, predictor=predictor, actor=actor, who=who)
    except (NoProductionModel, StoreError, model_registry.ArtifactRefused) as exc:
        log.info("no grade prediction for lot %s: %s", lot.code, exc)
    except Exception:  # noqa: BLE001 - a model fault must not lose the lot
        log.exception("grade prediction for lot %s failed", lot.code)
    return None


def open_lots(session: Session) -> list[Lot]:
    """The lots whose production has ended that have no lab grade yet and no prediction by the
    production model: what a newly promoted model is asked about (`recyclab model predict`)."""
    production = model_registry.production(session)
    predicted = select(Prediction.lot_id)
    if production is not None:
        predicted = predicted.where(Prediction.model_version_id == production.id)
    graded = list(lab_grades(session))
    return list(session.scalars(
        select(Lot)
        .where(Lot.production_end <= utcnow(), Lot.id.not_in(predicted), Lot.id.not_in(graded))
        .order_by(Lot.production_end, Lot.id)
    ))


def prediction_of_lot(session: Session, actor: User, lot: Lot) -> Prediction | None:
    """The lot's latest prediction with the lab grade once it is known, for whoever may ask the
    model (the lab's staff): it is the lab's working estimate from its pilot line's process
    readings, not a result, and its customer does not read it."""
    require(actor, Capability.REQUEST_PREDICTIONS)
    return latest_prediction(session, lot.id)


def _lab_graded(stmt: Select[tuple[Prediction]]) -> Select[tuple[Prediction]]:
    """Loads the predictions with their lots' lab grades as they stand now, in the one query:
    reading a prediction writes nothing (a read replica, a read-only transaction)."""
    return stmt.options(with_expression(Prediction.lab_grade, lab_grade_of(Prediction.lot_id))).execution_options(
        populate_existing=True  # a prediction this session holds already gets its lab grade too
    )


def latest_prediction(session: Session, lot_id: int) -> Prediction | None:
    return session.scalar(_lab_graded(
        select(Prediction).where(Prediction.lot_id == lot_id).order_by(Prediction.id.desc()).limit(1)
    ))


def lab_grades(
    session: Session, lot_ids: list[int] | Select[tuple[int]] | None = None
) -> dict[int, tuple[str, datetime | None]]:
    """The latest lab grade per lot (graded top-level samples whose results still stand: not
    one invalidated after release, nor one "not graded" for want of a result the specification
    limits); `lot_ids` a list or a query."""
    q = (
        select(Sample.lot_id, Sample.grade, Sample.graded_at)
        .where(GIVES_LAB_GRADE, Sample.lot_id.is_not(None))
        .order_by(Sample.graded_at, Sample.id)
    )
    if lot_ids is not None:
        q = q.where(Sample.lot_id.in_(lot_ids))
    return {lot_id: (grade, at) for lot_id, grade, at in session.execute(q)}


def standing_predictions() -> Select[tuple[int]]:
    """The ids of each lot's latest prediction by each model version: the answer the version
    stands by. A lot asked again (Predict again now) counts once against its lab grade."""
    return select(func.max(Prediction.id)).group_by(Prediction.lot_id, Prediction.model_version_id)


def agreement_report(session: Session) -> list[dict]:
    """Per model version and month of prediction: lots with a lab grade and agreement."""
    rows: dict[tuple[str, str], list[int]] = {}
    lab_grade = lab_grade_of(Prediction.lot_id)
    q = (
        select(ModelVersion.version, Prediction.created_at, Prediction.predicted_grade, lab_grade)
        .join(ModelVersion)
        .where(lab_grade.is_not(None), Prediction.id.in_(standing_predictions()))
    )
    for version, created, predicted, lab in session.execute(q):
        acc = rows.setdefault((version, created.strftime("%Y-%m")), [0, 0])
        acc[0] += 1
        acc[1] += int(predicted == lab)
    return [
        {"version": v, "month": m, "with_lab_grade": n, "agreement": round(a / n, 4)}
        for (v, m), (n, a) in sorted(rows.items())
    ]


@dataclass(frozen=True)
class Shown:
    """What a lot or sample page shows of the latest prediction."""

    grade: str
    model_version: str
    confidence: float | None
    out_of_training_range: bool


def shown_for_lot(session: Session, lot_id: int) -> Shown | None:
    p = latest_prediction(session, lot_id)
    return None if p is None else shown(p)


def shown(p: Prediction) -> Shown:
    return Shown(
        p.predicted_grade, p.model_version.version, p.probabilities.get(p.predicted_grade),
        p.out_of_training_range,
    )
