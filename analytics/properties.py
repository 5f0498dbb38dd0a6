"""The lab properties a grade is made of, predicted from the process window, and the grade the
lab would give them.

Property models, one per lab property over every material that has it: per installation a
ridge regression on the installation's features and the logarithms of its positive ones
(melt viscosity, screen clogging and most process relations are power laws, straight lines on
that scale), then gradient boosting on what the regressions leave (thresholds, upsets,
interactions). Boosting alone needs many more lots for a smooth relation than one line does.
A property that is positive throughout is modelled on the log scale: its scatter grows with
its level. Intervals: split conformal per material on the calibration slice.

Grade from properties: the lab grades a lot by its values against the ranges each grade
accepts under the decision rule (LabCatalogue.acceptance). A lot's lab values are predicted as
its predicted properties plus the residuals of the training lots of its material, out of fold,
each lot's residuals taken together (a misjudged contamination moves ash, filter pressure value
and colour at once). The probability of a grade is the share of those values it would be
given. Limits far from a prediction cost nothing; limits close to it are exactly as uncertain as
the model has been on earlier lots.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from analytics.features import CATEGORICAL
from lims.samples import grading

MIN_VALUES = 40  # training lots with a value below which a property gets no model
CONFORMAL_MIN = 20  # calibration lots of a material below which its interval is the pooled one
POOL_MIN = 20  # training lots of a material below which its grade is left to the classifier
INTERVAL_COVERAGE = 0.90
FOLDS = 3
RIDGE_ALPHAS = np.logspace(-2, 3, 12)
_INSTALLATION, _MATERIAL, _STREAM = (CATEGORICAL.index(c) for c in ("installation", "material", "input_stream"))


def _design(part: dict, M: np.ndarray) -> np.ndarray:
    """The regression's input for lots of one installation: its features (missing ones at the
    training median), the logs of those positive in training, the material and input stream.
    Features are held to their training range: a straight line must not extrapolate (a lot
    whose vacuum reading touched 0 mbar, through its log, was once given a filter pressure
    value of 32 for a lab value of 0.9)."""
    Z = np.clip(M[:, part["columns"]], part["low"], part["high"])
    Z = np.where(np.isnan(Z), part["medians"], Z)
    logs = np.log(Z[:, part["logged"]])
    materials = (M[:, [_MATERIAL]] == np.asarray(part["materials"])[None, :]).astype(float)
    return np.hstack([Z, logs, materials, (M[:, [_STREAM]] == 0).astype(float)])


def _fit_regressor(M: np.ndarray, target: np.ndarray, columns: np.ndarray, max_iter: int) -> dict:
    """A ridge regression per installation, then boosting on what they leave, kept as plain
    scikit-learn estimators, arrays and lists: what skops loads without trusting more types."""
    linear, base = {}, np.zeros(len(target))
    k = len(CATEGORICAL)
    for code in np.unique(M[:, _INSTALLATION]):
        sel = M[:, _INSTALLATION] == code
        cols = np.flatnonzero(~np.isnan(M[sel, k:]).all(axis=0)) + k
        Z = M[np.ix_(sel, cols)]
        part = {
            "columns": cols.tolist(),
            "medians": np.nanmedian(Z, axis=0),
            "low": np.nanmin(Z, axis=0),
            "high": np.nanmax(Z, axis=0),
            "logged": np.flatnonzero(np.nanmin(Z, axis=0) > 0).tolist(),
            "materials": np.unique(M[sel, _MATERIAL]).tolist(),
        }
        D = _design(part, M[sel])
        part["model"] = make_pipeline(StandardScaler(), RidgeCV(alphas=RIDGE_ALPHAS)).fit(D, target[sel])
        base[sel] = part["model"].predict(D)
        linear[str(int(code))] = part
    boost = HistGradientBoostingRegressor(
        max_iter=max_iter, learning_rate=0.1, l2_regularization=1.0, max_leaf_nodes=15, max_bins=63,
        categorical_features=[i for i in range(len(CATEGORICAL)) if i in columns], early_stopping=False, random_state=0,
    ).fit(M[:, columns], target - base)
    return {"linear": linear, "boost": boost, "columns": columns.tolist()}


def _predict_regressor(reg: dict, M: np.ndarray) -> np.ndarray:
    out = reg["boost"].predict(M[:, reg["columns"]])
    for code, part in reg["linear"].items():
        sel = M[:, _INSTALLATION] == float(code)
        if sel.any():
            out[sel] += part["model"].predict(_design(part, M[sel]))
    return out


def conformal_quantile(residuals: np.ndarray, coverage: float = INTERVAL_COVERAGE) -> float:
    """The split-conformal quantile: the ceil((n + 1) * coverage)-th smallest residual."""
    k = min(math.ceil((len(residuals) + 1) * coverage), len(residuals))
    return float(np.sort(residuals)[k - 1])


def fit_property_models(M: np.ndarray, props: pd.DataFrame, materials: np.ndarray, fit_sl: slice, cal_sl: slice,
                        max_iter: int, folds: int = FOLDS) -> tuple[dict[str, dict], pd.DataFrame]:
    """Per lab property a regressor on the training lots with a value, and its split-conformal
    half-width per material (Mondrian: materials differ in scatter; the pooled one for a
    material with few lots), on the model's scale, from the calibration slice, or from the
    training lots' out-of-fold residuals when the slice has too few values (a property of a
    rare material). Also those out-of-fold residuals (NaN where a lot has no value)."""
    start = fit_sl.start or 0
    models, residuals = {}, pd.DataFrame(index=range(fit_sl.stop - start))
    for prop in props.columns:
        v = props[prop].to_numpy()
        fit_idx = np.flatnonzero(~np.isnan(v[fit_sl])) + start
        if len(fit_idx) < MIN_VALUES:
            continue
        log = bool((v[fit_idx] > 0).all())
        target = np.log(v[fit_idx]) if log else v[fit_idx]
        # The columns of the installations that make this property's materials (another
        # line's columns are all missing on these lots, which the binning cannot take).
        columns = np.flatnonzero(~np.isnan(M[fit_idx]).all(axis=0))
        oof = np.full(len(fit_idx), np.nan)
        for a, b in KFold(folds, shuffle=True, random_state=0).split(fit_idx):
            oof[b] = _predict_regressor(_fit_regressor(M[fit_idx[a]], target[a], columns, max_iter), M[fit_idx[b]])
        col = np.full(len(residuals), np.nan)
        col[fit_idx - start] = target - oof
        residuals[str(prop)] = col
        reg = _fit_regressor(M[fit_idx], target, columns, max_iter)
        cal_idx = np.flatnonzero(~np.isnan(v[cal_sl])) + cal_sl.start
        if len(cal_idx) >= CONFORMAL_MIN:
            actual = np.log(np.maximum(v[cal_idx], 1e-12)) if log else v[cal_idx]
            resid, resid_materials = np.abs(_predict_regressor(reg, M[cal_idx]) - actual), materials[cal_idx]
        else:
            resid, resid_materials = np.abs(target - oof), materials[fit_idx]
        halfwidth = {"*": conformal_quantile(resid)}
        for m in sorted(set(resid_materials)):
            r = resid[resid_materials == m]
            if len(r) >= CONFORMAL_MIN:
                halfwidth[str(m)] = conformal_quantile(r)
        model = {"regressor": reg, "log": log, "halfwidth": halfwidth}
        if not log and (v[fit_idx] >= 0).all():
            # Never measured below zero (a content that is often 0 %): neither is a prediction.
            model["floor"] = 0.0
        models[str(prop)] = model
    return models, residuals


def property_intervals(models: dict[str, dict], M: np.ndarray, materials: Sequence[str]) -> dict[str, np.ndarray]:
    """Per property an (n, 3) array: prediction, lower and upper bound of the interval."""
    out = {}
    for prop, pm in models.items():
        if "regressor" in pm:
            centre = _predict_regressor(pm["regressor"], M)
        else:  # a version trained before the regressions (boosting alone); rollback may serve it
            centre = pm["model"].predict(M[:, pm["columns"]])
        hw = np.array([pm["halfwidth"].get(str(m), pm["halfwidth"]["*"]) for m in materials])
        bounds = np.column_stack([centre, centre - hw, centre + hw])
        if "floor" in pm:
            bounds = np.maximum(bounds, pm["floor"])
        out[prop] = np.exp(bounds) if pm["log"] else bounds
    return out


def residual_pools(residuals: pd.DataFrame, materials: np.ndarray, acceptance: dict[str, list[list]],
                   models: dict[str, dict]) -> dict[str, dict]:
    """Per material with a specification: the properties its grades limit and the training lots'
    out-of-fold residual vectors of those properties (lots with all of them), when the
    material has a model for each and enough such lots."""
    pools = {}
    for material, grades in acceptance.items():
        props = sorted({p for _, limits in grades for p in limits})
        if not props or any(p not in models for p in props):
            continue
        r = residuals.loc[materials == material, props].to_numpy()
        r = r[~np.isnan(r).any(axis=1)]
        if len(r) >= POOL_MIN:
            pools[material] = {"properties": props, "residuals": r}
    return pools


def grade_probabilities(models: dict[str, dict], pools: dict[str, dict], acceptance: dict[str, list[list]],
                        M: np.ndarray, materials: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """Per lot the probability of each grade in ``classes`` the lab would give its predicted
    properties; NaN rows for lots whose material has no residual pool (or whose grades are
    all unknown to ``classes``)."""
    materials = np.asarray(materials, dtype=object)
    out = np.full((len(materials), len(classes)), np.nan)
    index = {c: i for i, c in enumerate(classes)}
    for material in set(materials) & set(pools):
        rows = np.flatnonzero(materials == material)
        pool = pools[material]
        props = pool["properties"]
        centre = np.column_stack([_predict_regressor(models[p]["regressor"], M[rows]) for p in props])
        values = centre[:, None, :] + pool["residuals"][None, :, :]  # lots x pool x properties
        logged = [k for k, p in enumerate(props) if models[p]["log"]]
        values[:, :, logged] = np.exp(values[:, :, logged])
        undecided = np.ones(values.shape[:2], dtype=bool)
        counts = np.zeros((len(rows), len(classes)))
        for grade, limits in acceptance[material]:
            meets = np.ones(values.shape[:2], dtype=bool)
            for prop, (low, high) in limits.items():
                k = props.index(prop)
                if low is not None:
                    meets &= values[:, :, k] >= low
                if high is not None:
                    meets &= values[:, :, k] <= high
            if grade in index:
                counts[:, index[grade]] = (undecided & meets).sum(axis=1)
            undecided &= ~meets
        if grading.OFF_SPEC in index:
            counts[:, index[grading.OFF_SPEC]] = undecided.sum(axis=1)
        total = counts.sum(axis=1, keepdims=True)
        known = total[:, 0] > 0
        out[rows[known]] = counts[known] / total[known]
    return out
