"""Train, evaluate and register the grade model.

Time-ordered evaluation: lots sorted by the end of their production window; the oldest part
trains the model: a classifier on the process features, and one regressor per lab property
(analytics.properties) whose predictions, graded as the lab grades, give grade probabilities
of their own. The next slice calibrates: how much each of the two counts in the model's
probabilities, the temperature (kept only if it lowers the slice's ECE), the off-spec alarm
threshold and the property intervals (split conformal). The newest part is the test set
every figure is reported on, overall, per material and per installation. Baselines (logistic
regression, each material's usual grade, the line's previous lot, the majority grade) are
reported beside the model; a model that does not beat all of them is not promoted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize, minimize_scalar
from scipy.special import softmax
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    recall_score,
)
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sqlalchemy import select
from sqlalchemy.orm import Session
from threadpoolctl import threadpool_limits

from analytics import model_registry
from analytics.features import CATEGORICAL, LotWindow, feature_rows, numeric_feature_names
from analytics.lims_link import LabCatalogue
from analytics.model_registry import BASELINES, baselines_not_beaten
from analytics.properties import (
    INTERVAL_COVERAGE,
    fit_property_models,
    grade_probabilities,
    property_intervals,
    residual_pools,
)
from analytics.simulator.dataset import LotRecord
from analytics.simulator.physics import from_simulator
from ingest.registry import Registry
from ingest.store.base import TimeSeriesStore
from lims.kernel.clock import utcnow
from lims.kernel.models import Analysis, Lot, Method, Sample
from lims.kernel.models.analytics import ModelVersion
from lims.samples import grading
from lims.samples.lot_search import GIVES_LAB_GRADE

MIN_LOTS = 40
# The newest share of the lots held out for the test: the model is promoted only if it beats
# every baseline on them, which means little on a handful of lots, and with more than half
# held out the calibration slice and the training lots are left too few.
TEST_FRACTIONS = (0.1, 0.5)
PSI_BINS = 10
OFF_SPEC = grading.OFF_SPEC
# Passing an off-spec lot costs more than a false alarm: the decision threshold is chosen to
# catch this share of the calibration slice's off-spec lots.
OFF_SPEC_RECALL = 0.90
# Added to the grade probabilities from properties before they are combined: a grade none of
# a material's training residuals reached is unlikely, not impossible.
PROPERTY_FLOOR = 1e-3


@dataclass
class Dataset:
    rows: list[dict]
    X: pd.DataFrame
    y: np.ndarray
    ends: list[datetime]
    lot_keys: list[str]
    # Lab values per property (mfr, intrinsic_viscosity, ...), NaN where not measured.
    properties: pd.DataFrame = field(default_factory=pd.DataFrame)
    # How many of the lots come from the pilot-line simulator: the model's figures are then
    # figures on simulated lots, and its pages say so.
    simulated: int = 0


def frame(rows: Sequence[dict], numeric: Sequence[str]) -> pd.DataFrame:
    """Feature rows as the model's input frame: fixed columns, categories as strings."""
    df = pd.DataFrame.from_records(rows, columns=list(CATEGORICAL) + list(numeric))
    for c in CATEGORICAL:
        df[c] = df[c].astype(object)
    num = df[list(numeric)].apply(pd.to_numeric, errors="coerce").astype(float)
    return pd.concat([df[list(CATEGORICAL)], num], axis=1)


def build_dataset(
    store: TimeSeriesStore, registry: Registry, records: Sequence[LotRecord], progress=None,
    catalogue: LabCatalogue | None = None,
) -> Dataset:
    """Features and lab grades of the graded lots, oldest first; with ``catalogue`` also
    their lab values per property (the targets of the property models)."""
    graded = sorted((r for r in records if r.grade), key=lambda r: (r.window.end, r.window.lot_key))
    rows = feature_rows(store, registry, [r.window for r in graded], progress)
    props = [catalogue.properties(r.window.material, r.lab) if catalogue else {} for r in graded]
    return Dataset(
        rows=rows,
        X=frame(rows, numeric_feature_names(registry)),
        y=np.array([r.grade for r in graded], dtype=object),
        ends=[r.window.end for r in graded],
        lot_keys=[r.window.lot_key for r in graded],
        properties=pd.DataFrame.from_records(props, index=range(len(graded))).astype(float),
        simulated=sum(from_simulator(r.source) for r in graded),
    )


def lims_records(session: Session) -> list[LotRecord]:
    """Lots in the LIMS with a lab grade (the latest graded top-level sample of each lot whose
    results still stand: never one the lab invalidated, nor one "not graded" for want of a result
    the specification limits) and that sample's verified values per method."""
    q = (
        select(Lot, Sample)
        .join(Sample, Sample.lot_id == Lot.id)
        .where(GIVES_LAB_GRADE)
        .order_by(Lot.id, Sample.graded_at)
    )
    latest: dict[int, tuple[Lot, Sample]] = {}
    for lot, sample in session.execute(q):
        latest[lot.id] = (lot, sample)
    values = session.execute(
        select(Analysis.sample_id, Method.key, Analysis.value)
        .join(Method, Analysis.method_id == Method.id)
        .where(Analysis.sample_id.in_([s.id for _, s in latest.values()]), Analysis.state == "verified",
               Analysis.value.is_not(None))
        .order_by(Analysis.id)
    )
    lab: dict[int, dict[str, float]] = {}
    for sample_id, key, value in values:
        lab.setdefault(sample_id, {})[key] = float(value)
    return [
        LotRecord(window_of_lot(lot), lot.source, lab.get(sample.id, {}), grade=sample.grade)
        for lot, sample in latest.values()
    ]


def window_of_lot(lot: Lot) -> LotWindow:
    return LotWindow(
        lot.code, lot.installation.key, lot.material.key, lot.input_stream,
        float(lot.recycled_content_pct), lot.production_start, lot.production_end,
    )


def matrix(rows: Sequence[dict], categories: dict[str, list[str]], numeric: Sequence[str]) -> np.ndarray:
    """The boosted model's input, straight from feature rows (a data frame and a column
    transformer cost more than the model itself for one lot): the categorical columns as
    codes (index in the training categories; unseen = missing), then the numeric features."""
    k = len(CATEGORICAL)
    codes = [{v: float(i) for i, v in enumerate(categories[c])} for c in CATEGORICAL]
    out = np.full((len(rows), k + len(numeric)), np.nan)
    for i, row in enumerate(rows):
        out[i, :k] = [codes[j].get(row.get(c), np.nan) for j, c in enumerate(CATEGORICAL)]
        out[i, k:] = [row.get(name, np.nan) for name in numeric]
    return out


def boosted_model(max_iter: int = 120) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=max_iter, learning_rate=0.1, l2_regularization=1.0, max_leaf_nodes=15, max_bins=63,
        categorical_features=list(range(len(CATEGORICAL))), early_stopping=False, random_state=0,
    )


def logreg_pipeline(numeric: Sequence[str]) -> Pipeline:
    prep = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL)),
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), list(numeric)),
        ]
    )
    return Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=300, tol=1e-3))])


def expected_calibration_error(proba: np.ndarray, y_true: np.ndarray, classes: Sequence[str], bins: int = 10) -> tuple[float, list[dict]]:
    """Top-label ECE: |accuracy - confidence| per confidence bin, weighted by bin size."""
    conf = proba.max(axis=1)
    pred = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    correct = pred == y_true
    edges = np.linspace(0, 1, bins + 1)
    ece, curve = 0.0, []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            acc, c = float(correct[sel].mean()), float(conf[sel].mean())
            ece += sel.mean() * abs(acc - c)
            curve.append({"bin": [float(lo), float(hi)], "confidence": c, "accuracy": acc, "count": int(sel.sum())})
    return float(ece), curve


def scores(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]) -> dict:
    recall = recall_score(y_true, y_pred, labels=list(classes), average=None, zero_division=0)
    return {
        "macro_f1": float(f1_score(y_true, y_pred, labels=list(classes), average="macro", zero_division=0)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "accuracy": float((y_true == y_pred).mean()),
        "recall": {c: float(r) for c, r in zip(classes, recall, strict=True)},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=list(classes)).tolist(),
    }


def feature_ranges(X: pd.DataFrame, numeric: Sequence[str]) -> dict:
    ranges: dict[str, dict] = {"numeric": {}, "categories": {}}
    for c in numeric:
        v = X[c].dropna().to_numpy()
        if len(v):
            ranges["numeric"][c] = [float(v.min()), float(v.max()), float(np.median(v))]
    for c in CATEGORICAL:
        ranges["categories"][c] = sorted(str(x) for x in X[c].dropna().unique())
    return ranges


def reference_histograms(X: pd.DataFrame, numeric: Sequence[str]) -> dict:
    """Decile edges of each numeric feature in training and the share of lots per bin."""
    ref = {}
    for c in numeric:
        v = X[c].dropna().to_numpy()
        if len(v) < PSI_BINS:
            continue
        edges = np.unique(np.quantile(v, np.linspace(0, 1, PSI_BINS + 1)[1:-1]))
        counts = np.bincount(np.searchsorted(edges, v, side="right"), minlength=len(edges) + 1)
        ref[c] = {"edges": edges.tolist(), "shares": (counts / counts.sum()).tolist()}
    return ref


def tempered(proba: np.ndarray, temperature: float | None) -> np.ndarray:
    """Probabilities with their log divided by the temperature (> 1 softer, < 1 sharper);
    the most probable grade stays."""
    if temperature is None:
        return proba
    return softmax(np.log(np.clip(proba, 1e-12, 1)) / temperature, axis=1)


def _log_loss(proba: np.ndarray, y: np.ndarray, classes: Sequence[str]) -> float:
    known = np.isin(y, list(classes))  # a grade the classifier never saw has no column
    return float(log_loss(y[known], proba[known], labels=list(classes)))


def fit_temperature(proba: np.ndarray, y: np.ndarray, classes: Sequence[str]) -> float:
    """The temperature (1/20 to 20) with the lowest log loss on these lots."""
    best = minimize_scalar(lambda t: _log_loss(tempered(proba, math.exp(t)), y, classes), bounds=(-3, 3), method="bounded")
    return float(math.exp(best.x))


def calibrate(proba: np.ndarray, y: np.ndarray, classes: Sequence[str]) -> tuple[float | None, dict]:
    """A temperature from the calibration lots' probabilities, kept (returned) only when it
    lowers their ECE.

    The calibrated ECE of the slice is cross-fitted (a temperature fitted on one half of the
    lots, measured on the other, and the other way round): measured on the lots it was fitted
    on, a calibration would always look better. One parameter keeps the most probable grade.
    """
    raw, _ = expected_calibration_error(proba, y, classes)
    info = {"ece_uncalibrated_slice": raw, "ece_calibrated_slice": None, "kept": False, "temperature": None}
    halves = [np.arange(0, len(y), 2), np.arange(1, len(y), 2)]
    crossed = np.zeros_like(proba)
    for fit_half, other in (halves, halves[::-1]):
        crossed[other] = tempered(proba[other], fit_temperature(proba[fit_half], y[fit_half], classes))
    info["ece_calibrated_slice"], _ = expected_calibration_error(crossed, y, classes)
    if info["ece_calibrated_slice"] >= raw:
        return None, info
    info["kept"], info["temperature"] = True, fit_temperature(proba, y, classes)
    return info["temperature"], info


def combine(p_model: np.ndarray, p_properties: np.ndarray, exponents: Sequence[float]) -> np.ndarray:
    """For the lots that have both (a row of NaN: not), the classifier's probabilities pooled
    with those of the grade from predicted properties: log-linear, p_model ** a * p_properties
    ** b renormalised. Exponents summing to more than 1 sharpen: the two err apart."""
    a, b = exponents
    out = p_model.copy()
    has = ~np.isnan(p_properties).any(axis=1)
    if b > 0 and has.any():
        out[has] = softmax(a * np.log(np.clip(p_model[has], 1e-12, 1)) + b * np.log(p_properties[has] + PROPERTY_FLOOR), axis=1)
    return out


def fit_exponents(p_model: np.ndarray, p_properties: np.ndarray, y: np.ndarray, classes: Sequence[str]) -> tuple[float, float]:
    """The exponents (0 to 3 each) of combine with the lowest log loss on these lots; (1, 0),
    the classifier alone, when none of them has a grade from properties."""
    has = ~np.isnan(p_properties).any(axis=1)
    if not has.any():
        return 1.0, 0.0
    best = minimize(lambda e: _log_loss(combine(p_model[has], p_properties[has], e), y[has], classes),
                    x0=[0.5, 0.5], bounds=[(0, 3), (0, 3)], method="L-BFGS-B")
    return float(best.x[0]), float(best.x[1])


def materials_of(M: np.ndarray, categories: dict[str, list[str]]) -> list[str | None]:
    """The material of each row of a model matrix (None: one training never saw)."""
    names, col = categories["material"], CATEGORICAL.index("material")
    return [None if np.isnan(code) else names[int(code)] for code in M[:, col]]


def grade_proba(artifact: dict, M: np.ndarray) -> np.ndarray:
    """The model's grade probabilities (columns: the classifier's classes) for matrix rows."""
    proba = artifact["model"].predict_proba(M)
    grading_ = artifact.get("grading")
    if grading_ and grading_["exponents"][1] > 0:
        classes = [str(c) for c in artifact["model"].classes_]
        from_properties = grade_probabilities(
            artifact["properties"], grading_["pools"], grading_["acceptance"], M, materials_of(M, artifact["categories"]), classes
        )
        proba = combine(proba, from_properties, grading_["exponents"])
    return tempered(proba, artifact.get("temperature"))


def most_probable(proba: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    return np.asarray(classes, dtype=object)[proba.argmax(axis=1)]


def off_spec_alarm(proba: np.ndarray, classes: Sequence[str], threshold: float | None) -> np.ndarray:
    """The off-spec alarm beside the predicted grade: raised when off-spec is the most probable
    grade or its probability reaches the threshold (a passed off-spec lot costs more than a
    false alarm, so the threshold sits well below the most probable grade's)."""
    alarm = most_probable(proba, classes) == OFF_SPEC
    if threshold is not None and OFF_SPEC in classes:
        alarm |= proba[:, list(classes).index(OFF_SPEC)] >= threshold
    return alarm


def off_spec_threshold(proba: np.ndarray, y: np.ndarray, classes: Sequence[str], target: float = OFF_SPEC_RECALL) -> float | None:
    """The highest off-spec probability threshold with which the alarm catches ``target`` of
    the off-spec lots of the calibration slice; None when the slice has none to choose it on."""
    if OFF_SPEC not in classes:
        return None
    is_off = y == OFF_SPEC
    if not is_off.any():
        return None
    p_off = proba[:, list(classes).index(OFF_SPEC)]
    by_argmax = most_probable(proba, classes) == OFF_SPEC
    missing = math.ceil(target * is_off.sum()) - int((is_off & by_argmax).sum())
    if missing <= 0:
        return 1.0
    return float(np.sort(p_off[is_off & ~by_argmax])[::-1][missing - 1])


def off_spec_scores(y_true: np.ndarray, alarm: np.ndarray) -> dict:
    actual = y_true == OFF_SPEC
    hit = int((actual & alarm).sum())
    return {
        "n": int(actual.sum()),
        "alarms": int(alarm.sum()),
        "recall": hit / actual.sum() if actual.any() else None,
        "precision": hit / alarm.sum() if alarm.any() else None,
        "false_alarms": int((alarm & ~actual).sum()),
    }


def macro_f1_interval(y_true: np.ndarray, y_pred: np.ndarray, level: float = 0.9, draws: int = 500) -> list[float]:
    """Percentile bootstrap interval of the macro-F1 (over the grades present in the true or
    predicted grades of each resample) over these lots: how far the figure of a group of some
    eighty test lots could be from the model's on that group's next eighty. A rare grade
    predicted once, or missed once, moves a small group's figure by a quarter."""
    labels = sorted(set(y_true) | set(y_pred))
    codes = {c: i for i, c in enumerate(labels)}
    t = np.array([codes[c] for c in y_true])
    p = np.array([codes[c] for c in y_pred])
    idx = np.random.default_rng(0).integers(0, len(t), (draws, len(t)))
    T, P = t[idx], p[idx]
    f1_sum, present = np.zeros(draws), np.zeros(draws)
    for c in range(len(labels)):
        true_c, pred_c = T == c, P == c
        both = true_c.sum(axis=1) + pred_c.sum(axis=1)
        has = both > 0
        f1_sum[has] += 2 * (true_c & pred_c).sum(axis=1)[has] / both[has]
        present += has
    macro = f1_sum / present
    tail = (1 - level) / 2 * 100
    return [float(np.percentile(macro, tail)), float(np.percentile(macro, 100 - tail))]


def group_scores(y_true: np.ndarray, y_pred: np.ndarray, alarm: np.ndarray, groups: np.ndarray) -> dict[str, dict]:
    """Per material or installation: macro-F1 (over the grades the group has or was given)
    with its 90 % bootstrap interval, and accuracy of the predicted grade, recall of the
    off-spec alarm."""
    out = {}
    for g in sorted(set(groups)):
        sel = groups == g
        labels = sorted(set(y_true[sel]) | set(y_pred[sel]))
        off = off_spec_scores(y_true[sel], alarm[sel])
        out[str(g)] = {
            "n": int(sel.sum()),
            "macro_f1": float(f1_score(y_true[sel], y_pred[sel], labels=labels, average="macro", zero_division=0)),
            "macro_f1_interval": macro_f1_interval(y_true[sel], y_pred[sel]),
            "accuracy": float((y_true[sel] == y_pred[sel]).mean()),
            "off_spec_n": off["n"],
            "off_spec_recall": off["recall"],
        }
    return out


def usual_grades(materials: np.ndarray, y: np.ndarray) -> dict[str, str]:
    """Each material's most frequent grade."""
    return {m: str(pd.Series(y[materials == m]).mode().iloc[0]) for m in sorted(set(materials))}


def persistence(installations: np.ndarray, y: np.ndarray, first: int, fallback: np.ndarray) -> np.ndarray:
    """For lots ``first`` onwards (in time order): the lab grade of the previous lot on the same
    line; ``fallback`` where the line has no earlier lot."""
    last: dict[str, str] = {}
    out = np.asarray(fallback, dtype=object).copy()
    for i, (inst, grade) in enumerate(zip(installations, y, strict=True)):
        if i >= first and inst in last:
            out[i - first] = last[inst]
        last[inst] = grade
    return out


def interval_coverage(intervals: dict[str, np.ndarray], props: pd.DataFrame, materials: np.ndarray) -> dict:
    """Share of lab values inside their interval: overall, per property and per material."""
    inside, mats, per_prop = [], [], {}
    for prop, b in intervals.items():
        v = props[prop].to_numpy() if prop in props else np.full(len(b), np.nan)
        has = ~np.isnan(v)
        if not has.any():
            continue
        hit = (v[has] >= b[has, 1]) & (v[has] <= b[has, 2])
        per_prop[prop] = {"n": int(has.sum()), "coverage": float(hit.mean()),
                          "median_width": float(np.median(b[has, 2] - b[has, 1]))}
        inside.append(hit)
        mats.append(materials[has])
    if not inside:
        return {"target": INTERVAL_COVERAGE, "overall": None, "per_property": {}, "per_material": {}}
    hits, mats_all = np.concatenate(inside), np.concatenate(mats)
    return {
        "target": INTERVAL_COVERAGE,
        "overall": float(hits.mean()),
        "n": int(len(hits)),
        "per_property": per_prop,
        "per_material": {str(m): float(hits[mats_all == m].mean()) for m in sorted(set(mats_all))},
    }


def material_medians(X: pd.DataFrame, numeric: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per material the median of each numeric feature its lots have: the reference a single
    prediction is explained against (a pooled median mixes PET's lines with PP's)."""
    out = {}
    for m, part in X.groupby("material"):
        med = part[list(numeric)].median(skipna=True)
        out[str(m)] = {c: float(v) for c, v in med.items() if not np.isnan(v)}
    return out


@dataclass
class Outcome:
    # {"model": classifier, "categories", "numeric", "properties", "grading": {"exponents", "pools",
    # "acceptance"}, "temperature", "off_spec_threshold", "limits"}: what grade_proba and the
    # predictor read.
    artifact: dict
    classes: list[str]
    metrics: dict
    ranges: dict
    reference: dict
    train_range: tuple[datetime, datetime]
    test_range: tuple[datetime, datetime] | None
    n_train: int
    n_test: int
    numeric: list[str] = field(default_factory=list)


def fit(data: Dataset, numeric: Sequence[str], test_fraction: float = 0.2, calibration_fraction: float = 0.1,
        max_iter: int = 120, progress=None, limits: dict | None = None, acceptance: dict | None = None) -> Outcome:
    """Train on the oldest lots, calibrate and choose the off-spec threshold on the next
    slice, report everything on the newest lots next to the baselines. ``limits`` (from
    LabCatalogue.limits) go into the artifact so a prediction can name the limit at risk;
    with ``acceptance`` (LabCatalogue.acceptance) the predicted properties are graded too.

    Single-threaded: its many small fits and predictions gain less from OpenMP threads than
    waking them costs, and on a machine busy with other work the threads spin (the CLI test
    took four times as long)."""
    with threadpool_limits(limits=1, user_api="openmp"):
        return _fit(data, numeric, test_fraction, calibration_fraction, max_iter, progress, limits, acceptance)


def check_test_fraction(value: float) -> None:
    low, high = TEST_FRACTIONS
    if not low <= value <= high:
        raise ValueError(f"the test set is {low} to {high} of the lots (the newest), not {value}")


def _fit(data: Dataset, numeric: Sequence[str], test_fraction: float, calibration_fraction: float, max_iter: int,
         progress, limits: dict | None, acceptance: dict | None) -> Outcome:
    check_test_fraction(test_fraction)
    n = len(data.y)
    if n < MIN_LOTS:
        raise ValueError(f"{n} graded lots; training needs at least {MIN_LOTS}")
    n_test = max(int(n * test_fraction), 1)
    n_cal = max(int(n * calibration_fraction), 1)
    n_fit = n - n_test - n_cal
    fit_sl, cal_sl, test_sl = slice(0, n_fit), slice(n_fit, n_fit + n_cal), slice(n_fit + n_cal, n)
    # Only features the training lots have: an installation without graded lots yet adds
    # nothing but empty columns (its lots will be flagged out of the training range).
    numeric = [c for c in numeric if data.X[c].iloc[fit_sl].notna().any()]
    X, y = data.X[list(CATEGORICAL) + numeric], data.y
    materials = X["material"].astype(str).to_numpy()
    installations = X["installation"].astype(str).to_numpy()
    timings: dict[str, float] = {}

    def step(name: str, fn):
        t0 = time.perf_counter()
        out = fn()
        timings[name] = round(time.perf_counter() - t0, 3)
        if progress is not None:
            progress.update(1)
        return out

    ranges = feature_ranges(X.iloc[: n_fit + n_cal], numeric)
    ranges["material_medians"] = material_medians(X.iloc[: n_fit + n_cal], numeric)
    M = matrix(data.rows, ranges["categories"], numeric)
    base = step("fit_model", lambda: boosted_model(max_iter).fit(M[fit_sl], y[fit_sl]))
    classes = [str(c) for c in base.classes_]
    props = data.properties
    prop_models, residuals = step(
        "fit_properties", lambda: fit_property_models(M, props, materials, fit_sl, cal_sl, max(max_iter // 2, 10))
    ) if len(props.columns) else ({}, pd.DataFrame())
    pools = residual_pools(residuals, materials[fit_sl], acceptance or {}, prop_models)

    def parts(sl: slice) -> tuple[np.ndarray, np.ndarray]:
        """The classifier's probabilities and those of the grade from properties."""
        return base.predict_proba(M[sl]), grade_probabilities(prop_models, pools, acceptance or {}, M[sl], materials[sl], classes)

    def calibrate_slice() -> tuple[tuple[float, float], float | None, dict]:
        p_model, p_props = parts(cal_sl)
        exponents = fit_exponents(p_model, p_props, y[cal_sl], classes)
        temperature, info = calibrate(combine(p_model, p_props, exponents), y[cal_sl], classes)
        return exponents, temperature, info

    exponents, temperature, calibration = step("calibrate", calibrate_slice)
    artifact = {
        "model": base, "categories": ranges["categories"], "numeric": numeric, "properties": prop_models,
        "grading": {"exponents": exponents, "pools": pools, "acceptance": acceptance or {}}, "temperature": temperature,
        "limits": limits or {},
    }
    cal_proba = grade_proba(artifact, M[cal_sl])
    threshold = artifact["off_spec_threshold"] = off_spec_threshold(cal_proba, y[cal_sl], classes)
    majority = step("fit_majority", lambda: DummyClassifier(strategy="most_frequent").fit(X.iloc[fit_sl], y[fit_sl]))
    logreg = step("fit_logreg", lambda: logreg_pipeline(numeric).fit(X.iloc[fit_sl], y[fit_sl]))
    # What the lab's history alone says: a material's usual grade (learnt on the older lots),
    # and the grade of the line's previous lot.
    usual = usual_grades(materials[: n_fit + n_cal], y[: n_fit + n_cal])
    fallback = str(majority.classes_[np.argmax(majority.class_prior_)])
    usual_pred = np.array([usual.get(m, fallback) for m in materials[test_sl]], dtype=object)
    previous = persistence(installations, y, n_fit + n_cal, usual_pred)

    Xt, Mt, yt = X.iloc[test_sl], M[test_sl], y[test_sl]
    p_model, p_props = parts(test_sl)
    combined = combine(p_model, p_props, exponents)
    proba = tempered(combined, temperature)
    pred, alarm = most_probable(proba, classes), off_spec_alarm(proba, classes, threshold)
    metrics = {"model": scores(yt, pred, classes), "training_data": {"lots": n, "simulated_lots": data.simulated}}
    ece, curve = expected_calibration_error(proba, yt, classes)
    raw_ece, _ = expected_calibration_error(combined, yt, classes)
    metrics["model"].update(ece=ece, ece_uncalibrated=raw_ece, reliability=curve, calibrated=calibration["kept"])
    metrics["calibration"] = calibration
    # The two parts alone, on the test lots the grade from properties covers.
    covered = ~np.isnan(p_props).any(axis=1)
    metrics["grade_from_properties"] = {
        "exponents": list(exponents),
        "lots": int(covered.sum()),
        "materials": sorted(pools),
        "classifier_macro_f1": scores(yt[covered], most_probable(p_model[covered], classes), classes)["macro_f1"] if covered.any() else None,
        "properties_macro_f1": scores(yt[covered], most_probable(p_props[covered], classes), classes)["macro_f1"] if covered.any() else None,
    }
    metrics["majority"] = scores(yt, majority.predict(Xt), classes)
    metrics["logistic_regression"] = scores(yt, logreg.predict(Xt), classes)
    metrics["material_usual"] = scores(yt, usual_pred, classes)
    metrics["persistence"] = scores(yt, previous, classes)
    metrics["classes"] = classes
    metrics["class_counts_test"] = {c: int((yt == c).sum()) for c in classes}
    metrics["off_spec"] = {
        "threshold": threshold,
        "target_recall": OFF_SPEC_RECALL,
        "calibration": off_spec_scores(y[cal_sl], off_spec_alarm(cal_proba, classes, threshold)),
        "test": off_spec_scores(yt, alarm),
        # What the threshold costs: the alarm if it were raised on the most probable grade only.
        "test_most_probable_grade": off_spec_scores(yt, pred == OFF_SPEC),
    }
    metrics["per_material"] = group_scores(yt, pred, alarm, materials[test_sl])
    metrics["per_installation"] = group_scores(yt, pred, alarm, installations[test_sl])
    not_beaten = baselines_not_beaten(metrics)
    metrics["promotion"] = {"eligible": not not_beaten, "baselines_not_beaten": not_beaten}

    if prop_models:
        metrics["intervals"] = interval_coverage(
            property_intervals(prop_models, Mt, materials[test_sl]), props.iloc[test_sl], materials[test_sl]
        )

    # On the classifier alone: through the property models a permutation costs some twenty
    # times more. The ranking only chooses which features a prediction is explained by; the
    # explanation itself goes through the whole model.
    sub = min(len(yt), 600)
    imp = step(
        "permutation_importance",
        lambda: permutation_importance(base, Mt[-sub:], yt[-sub:], scoring="f1_macro", n_repeats=2, random_state=0),
    )
    names = list(CATEGORICAL) + numeric
    order = np.argsort(-imp.importances_mean)
    metrics["permutation_importance"] = [
        {"feature": str(names[i]), "mean": float(imp.importances_mean[i]), "std": float(imp.importances_std[i])}
        for i in order
    ]
    metrics["timings_s"] = timings
    return Outcome(
        artifact=artifact,
        classes=classes,
        metrics=metrics,
        ranges=ranges,
        reference=reference_histograms(X.iloc[: n_fit + n_cal], numeric),
        train_range=(data.ends[0], data.ends[n_fit + n_cal - 1]),
        test_range=(data.ends[n_fit + n_cal], data.ends[-1]),
        n_train=n_fit + n_cal,
        n_test=n_test,
        numeric=numeric,
    )


def plot(outcome: Outcome, directory: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    m, classes = outcome.metrics["model"], outcome.classes
    paths = {}

    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    cm = np.array(m["confusion_matrix"])
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted grade")
    ax.set_ylabel("lab grade")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if v > cm.max() / 2 else "black")
    ax.set_title(f"Confusion matrix (test, n={cm.sum()})")
    fig.tight_layout()
    paths["confusion_matrix"] = directory / "confusion_matrix.png"
    fig.savefig(paths["confusion_matrix"], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    curve = m["reliability"]
    ax.plot([b["confidence"] for b in curve], [b["accuracy"] for b in curve], "o-", label=f"model (ECE {m['ece']:.3f})")
    ax.set_xlabel("predicted probability of the predicted grade")
    ax.set_ylabel("observed frequency")
    ax.set_title("Reliability (test lots)")
    ax.legend()
    fig.tight_layout()
    paths["reliability"] = directory / "reliability.png"
    fig.savefig(paths["reliability"], dpi=110)
    plt.close(fig)

    top = outcome.metrics["permutation_importance"][:15][::-1]
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.barh([t["feature"] for t in top], [t["mean"] for t in top], xerr=[t["std"] for t in top])
    ax.set_xlabel("drop in macro-F1 when permuted")
    ax.set_title("Permutation importance (test lots)")
    fig.tight_layout()
    paths["permutation_importance"] = directory / "permutation_importance.png"
    fig.savefig(paths["permutation_importance"], dpi=110)
    plt.close(fig)
    return paths


def new_version_name(now: datetime | None = None) -> str:
    now = now or utcnow()
    return "grade-" + now.strftime("%Y%m%dT%H%M%S%fZ")


def register(session: Session, outcome: Outcome, artifacts_root: Path, note: str = "") -> ModelVersion:
    version = new_version_name()
    directory = artifacts_root / version
    path = directory / "model.skops"
    sha = model_registry.save_artifact(outcome.artifact, path, session)
    plots = plot(outcome, directory)
    metrics = dict(outcome.metrics)
    metrics["plots"] = {k: str(p) for k, p in plots.items()}
    mv = ModelVersion(
        version=version,
        status="candidate",
        metrics=metrics,
        train_start=outcome.train_range[0],
        train_end=outcome.train_range[1],
        test_start=outcome.test_range[0] if outcome.test_range else None,
        test_end=outcome.test_range[1] if outcome.test_range else None,
        n_train=outcome.n_train,
        n_test=outcome.n_test,
        features=list(CATEGORICAL) + outcome.numeric,
        feature_ranges=outcome.ranges,
        reference=outcome.reference,
        classes=outcome.classes,
        artifact_path=str(path),
        artifact_sha256=sha,
        note=note,
    )
    session.add(mv)
    session.flush()
    return mv


def _f(x: float | None, fmt: str = ".3f") -> str:
    return "-" if x is None else format(x, fmt)


def summary(metrics: dict) -> str:
    """The figures of a training run, as the CLI prints them."""
    lines = []
    data = metrics.get("training_data")
    if data and data["simulated_lots"]:
        lines.append(f"SIMULATED: {data['simulated_lots']} of the {data['lots']} lots come from the pilot-line simulator; "
                     "these are the model's figures on simulated lots")
    lines.append(f"{'':22s} {'macro-F1':>9s} {'bal.acc':>8s} {'acc':>6s}")
    for name in ("model", *BASELINES):
        if name in metrics:
            m = metrics[name]
            lines.append(f"{name:22s} {m['macro_f1']:9.3f} {m['balanced_accuracy']:8.3f} {m['accuracy']:6.3f}")
    promotion = metrics.get("promotion", {})
    if promotion.get("eligible"):
        lines.append("beats every baseline on the held-out newer lots: may be promoted")
    else:
        lines.append("NOT promotable: does not beat " + ", ".join(baselines_not_beaten(metrics)) + " on the held-out newer lots")
    m = metrics["model"]
    cal = metrics.get("calibration", {})
    lines.append(
        f"ECE on test {m['ece']:.4f} (without calibration {m['ece_uncalibrated']:.4f}); calibration "
        + ("kept" if m.get("calibrated") else "not kept")
        + f": calibration-slice ECE {_f(cal.get('ece_uncalibrated_slice'), '.4f')} -> {_f(cal.get('ece_calibrated_slice'), '.4f')} (cross-fitted)"
    )
    parts = metrics.get("grade_from_properties")
    if parts and parts["lots"]:
        a, b = parts["exponents"]
        lines.append(
            f"grades from predicted properties for {parts['lots']} test lots ({', '.join(parts['materials'])}): "
            f"macro-F1 {_f(parts['properties_macro_f1'])} alone, the classifier's {_f(parts['classifier_macro_f1'])}; "
            f"pooled as P(classifier)^{a:.2f} x P(properties)^{b:.2f} (fitted on the calibration slice)"
        )
    off = metrics.get("off_spec")
    if off:
        t, c, a = off["test"], off["calibration"], off["test_most_probable_grade"]
        rule = (
            f"at P(off-spec) >= {_f(off['threshold'])} (chosen for recall >= {off['target_recall']:.2f} on the calibration slice: "
            f"{_f(c['recall'])} of {c['n']})"
            if off["threshold"] is not None
            else "on the most probable grade only (no off-spec lot in the calibration slice to choose a threshold on)"
        )
        lines.append(
            f"off-spec alarm {rule}; test: recall {_f(t['recall'])} precision {_f(t['precision'])} "
            f"({t['false_alarms']} false alarms, {t['n']} off-spec lots); on the most probable grade alone: "
            f"recall {_f(a['recall'])} precision {_f(a['precision'])}"
        )
    lines.append("recall per grade: " + ", ".join(f"{c} {r:.3f}" for c, r in m["recall"].items()))
    classes = metrics["classes"]
    lines.append("confusion matrix (rows lab grade, columns predicted): " + " ".join(classes))
    for c, row in zip(classes, m["confusion_matrix"], strict=True):
        lines.append(f"  {c:>9s} " + " ".join(f"{v:6d}" for v in row))
    for key, title in (("per_material", "material"), ("per_installation", "installation")):
        if key in metrics:
            lines.append(f"per {title}: {'n':>5s} {'macro-F1':>9s} {'90 % interval':>14s} {'acc':>6s} {'alarm recall':>13s}")
            for g, s in metrics[key].items():
                lo, hi = s.get("macro_f1_interval") or (None, None)
                lines.append(f"  {g:14s} {s['n']:5d} {s['macro_f1']:9.3f} {_f(lo):>6s}-{_f(hi):<6s} {s['accuracy']:6.3f} "
                             f"{_f(s['off_spec_recall']):>10s} (n={s['off_spec_n']})")
    iv = metrics.get("intervals")
    if iv and iv.get("overall") is not None:
        lines.append(f"property intervals ({iv['target']:.0%}): coverage on test {iv['overall']:.3f} over {iv['n']} lab values; per property: "
                     + ", ".join(f"{p} {v['coverage']:.2f}" for p, v in iv["per_property"].items()))
    lines.append("top features: " + ", ".join(f"{t['feature']} ({t['mean']:.3f})" for t in metrics["permutation_importance"][:6]))
    return "\n".join(lines)
