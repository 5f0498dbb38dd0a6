"""Train, evaluate and register the grade model.

Time-ordered evaluation: lots sorted by the end of their production window; the oldest part
trains the model, the next slice calibrates its probabilities (sigmoid, on a frozen model),
the newest part is the test set every figure is reported on. Baselines (majority class,
logistic regression) are trained on the same older lots and reported beside it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, f1_score, recall_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics import registry as model_registry
from analytics.features import CATEGORICAL, LotWindow, feature_rows, numeric_feature_names
from analytics.simulator.dataset import LotRecord
from ingest.registry import Registry
from ingest.store.base import TimeSeriesStore
from lims.kernel.clock import utcnow
from lims.kernel.models import Lot, Sample
from lims.kernel.models.analytics import ModelVersion

MIN_LOTS = 40
PSI_BINS = 10


@dataclass
class Dataset:
    rows: list[dict]
    X: pd.DataFrame
    y: np.ndarray
    ends: list[datetime]
    lot_keys: list[str]


def frame(rows: Sequence[dict], numeric: Sequence[str]) -> pd.DataFrame:
    """Feature rows as the model's input frame: fixed columns, categories as strings."""
    df = pd.DataFrame.from_records(rows, columns=list(CATEGORICAL) + list(numeric))
    for c in CATEGORICAL:
        df[c] = df[c].astype(object)
    num = df[list(numeric)].apply(pd.to_numeric, errors="coerce").astype(float)
    return pd.concat([df[list(CATEGORICAL)], num], axis=1)


def build_dataset(store: TimeSeriesStore, registry: Registry, records: Sequence[LotRecord], progress=None) -> Dataset:
    graded = sorted((r for r in records if r.grade), key=lambda r: (r.window.end, r.window.lot_key))
    rows = feature_rows(store, registry, [r.window for r in graded], progress)
    return Dataset(
        rows=rows,
        X=frame(rows, numeric_feature_names(registry)),
        y=np.array([r.grade for r in graded], dtype=object),
        ends=[r.window.end for r in graded],
        lot_keys=[r.window.lot_key for r in graded],
    )


def lims_records(session: Session) -> list[LotRecord]:
    """Lots in the LIMS with a lab grade (the latest graded top-level sample of each lot)."""
    q = (
        select(Lot, Sample.grade)
        .join(Sample, Sample.lot_id == Lot.id)
        .where(Sample.grade.is_not(None), Sample.parent_id.is_(None))
        .order_by(Lot.id, Sample.graded_at)
    )
    latest: dict[int, tuple[Lot, str]] = {}
    for lot, grade in session.execute(q):
        latest[lot.id] = (lot, grade)
    return [LotRecord(window_of_lot(lot), lot.source, grade=grade) for lot, grade in latest.values()]


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


def calibrate(base: HistGradientBoostingClassifier, X: np.ndarray, y: np.ndarray):
    """Temperature scaling of the fitted model on the calibration lots.

    One parameter (fit on lots the model has not seen), so it cannot overfit a small slice,
    and it keeps the most probable grade: macro-F1 stays that of the boosted model. Skipped
    (the model returned as it is) when the slice lacks a grade the model knows.
    """
    if set(y) != set(base.classes_):
        return base
    everything = np.arange(len(y))
    return CalibratedClassifierCV(FrozenEstimator(base), method="temperature", cv=[(everything, everything)]).fit(X, y)


@dataclass
class Outcome:
    artifact: dict  # {"model": classifier, "categories": {...}, "numeric": [...]}
    classes: list[str]
    metrics: dict
    ranges: dict
    reference: dict
    train_range: tuple[datetime, datetime]
    test_range: tuple[datetime, datetime] | None
    n_train: int
    n_test: int
    numeric: list[str] = field(default_factory=list)


def fit(data: Dataset, numeric: Sequence[str], test_fraction: float = 0.2, calibration_fraction: float = 0.1, max_iter: int = 120, progress=None) -> Outcome:
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
    timings: dict[str, float] = {}

    def step(name: str, fn):
        t0 = time.perf_counter()
        out = fn()
        timings[name] = round(time.perf_counter() - t0, 3)
        if progress is not None:
            progress.update(1)
        return out

    ranges = feature_ranges(X.iloc[: n_fit + n_cal], numeric)
    M = matrix(data.rows, ranges["categories"], numeric)
    base = step("fit_model", lambda: boosted_model(max_iter).fit(M[fit_sl], y[fit_sl]))
    calibrated = step("calibrate", lambda: calibrate(base, M[cal_sl], y[cal_sl]))
    majority = step("fit_majority", lambda: DummyClassifier(strategy="most_frequent").fit(X.iloc[fit_sl], y[fit_sl]))
    logreg = step("fit_logreg", lambda: logreg_pipeline(numeric).fit(X.iloc[fit_sl], y[fit_sl]))

    classes = [str(c) for c in calibrated.classes_]
    Xt, Mt, yt = X.iloc[test_sl], M[test_sl], y[test_sl]
    proba = calibrated.predict_proba(Mt)
    pred = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    metrics = {"model": scores(yt, pred, classes)}
    ece, curve = expected_calibration_error(proba, yt, classes)
    raw_ece, _ = expected_calibration_error(base.predict_proba(Mt), yt, classes)
    metrics["model"].update(ece=ece, ece_uncalibrated=raw_ece, reliability=curve, calibrated=calibrated is not base)
    metrics["majority"] = scores(yt, majority.predict(Xt), classes)
    metrics["logistic_regression"] = scores(yt, logreg.predict(Xt), classes)
    metrics["classes"] = classes
    metrics["class_counts_test"] = {c: int((yt == c).sum()) for c in classes}

    # On the boosted model itself: the same ranking as with the calibration on top (a
    # temperature keeps the most probable grade), at half the cost per permutation.
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
        artifact={"model": calibrated, "categories": ranges["categories"], "numeric": numeric},
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


def summary(metrics: dict) -> str:
    """The figures of a training run, as the CLI prints them."""
    lines = [f"{'':22s} {'macro-F1':>9s} {'bal.acc':>8s} {'acc':>6s}"]
    for name in ("model", "logistic_regression", "majority"):
        m = metrics[name]
        lines.append(f"{name:22s} {m['macro_f1']:9.3f} {m['balanced_accuracy']:8.3f} {m['accuracy']:6.3f}")
    m = metrics["model"]
    lines.append(f"ECE (calibrated) {m['ece']:.4f}   uncalibrated {m['ece_uncalibrated']:.4f}")
    lines.append("recall per grade: " + ", ".join(f"{c} {r:.3f}" for c, r in m["recall"].items()))
    classes = metrics["classes"]
    lines.append("confusion matrix (rows lab grade, columns predicted): " + " ".join(classes))
    for c, row in zip(classes, m["confusion_matrix"], strict=True):
        lines.append(f"  {c:>9s} " + " ".join(f"{v:6d}" for v in row))
    lines.append("top features: " + ", ".join(f"{t['feature']} ({t['mean']:.3f})" for t in metrics["permutation_importance"][:6]))
    return "\n".join(lines)
