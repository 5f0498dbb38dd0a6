"""The grade model a process engineer can act on: it is promoted and served only when it beats
every baseline (logistic regression, each material's usual grade, the line's previous lot,
the majority grade) on the held-out newer lots; the off-spec alarm threshold catches 90 % of
the calibration slice's off-spec lots; calibration is kept only when it helps; lab properties
come with intervals that cover the lab values of newer lots; explanations are relative to the
lot's own material."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from analytics import model_registry as registry
from analytics import properties, train
from analytics.features import numeric_feature_names
from analytics.lims_link import LabCatalogue
from analytics.predict import NoProductionModel, load_predictor, production_predictor
from analytics.simulator.dataset import generate
from ingest.registry import load_registry
from ingest.store.sqlite_store import SQLiteStore
from lims.kernel.models.analytics import ModelVersion

START = datetime(2025, 3, 3, tzinfo=UTC)


def synthetic(n: int, rule, seed: int = 0) -> train.Dataset:
    """Lots on two lines and two materials with features x, z; the grade from ``rule``."""
    rng = np.random.default_rng(seed)
    rows, grades = [], []
    for i in range(n):
        row = {"installation": f"l{i % 2}", "material": f"m{(i // 2) % 2}", "input_stream": "post-consumer",
               "x": float(rng.random()), "z": float(rng.random())}
        rows.append(row)
        grades.append(rule(row, rng))
    return train.Dataset(
        rows=rows, X=train.frame(rows, ["x", "z"]), y=np.array(grades, dtype=object),
        ends=[START + timedelta(hours=i) for i in range(n)], lot_keys=[f"L{i}" for i in range(n)],
    )


def by_process(row, rng) -> str:
    """A grade the process features decide (not linearly), with some lab scatter."""
    if rng.random() < 0.03:
        return str(rng.choice(["A", "B", "C"]))
    x, z = row["x"], row["z"]
    if z > 0.92:
        return "off-spec"
    if 0.3 < x < 0.7 and z < 0.6:
        return "A"
    return "B" if z < 0.8 else "C"


# The lab grades by a property p: up to -0.2 A, up to 0.2 B, above off-spec.
ACCEPTANCE = {m: [["A", {"p": [None, -0.2]}], ["B", {"p": [None, 0.2]}]] for m in ("m0", "m1")}


FEATURES = [f"x{k}" for k in range(6)]


def by_property(n: int, seed: int = 0) -> train.Dataset:
    """Lots whose lab value p (the features' sum less 3, plus the lab's scatter) the grade is
    given by: a boundary across six features, which trees can only follow in steps."""
    rng = np.random.default_rng(seed)
    rows = [{"installation": f"l{i % 2}", "material": f"m{(i // 2) % 2}", "input_stream": "post-consumer"}
            | {f: float(rng.random()) for f in FEATURES} for i in range(n)]
    p = np.array([sum(row[f] for f in FEATURES) - 3 for row in rows]) + rng.normal(scale=0.02, size=n)
    return train.Dataset(
        rows=rows, X=train.frame(rows, FEATURES),
        y=np.where(p <= -0.2, "A", np.where(p <= 0.2, "B", "off-spec")).astype(object),
        ends=[START + timedelta(hours=i) for i in range(n)], lot_keys=[f"L{i}" for i in range(n)],
        properties=pd.DataFrame({"p": p}),
    )


def test_the_grade_of_predicted_properties_follows_the_accepted_ranges():
    data = by_property(1000)
    materials = data.X["material"].astype(str).to_numpy()
    categories = {"installation": ["l0", "l1"], "material": ["m0", "m1"], "input_stream": ["post-consumer"]}
    M = train.matrix(data.rows, categories, FEATURES)
    models, residuals = properties.fit_property_models(M, data.properties, materials, slice(0, 800), slice(800, 1000), 30)
    # m2 has no specification: its grade is left to the classifier (a row of NaN)
    pools = properties.residual_pools(residuals, materials[:800], ACCEPTANCE | {"m2": []}, models)
    assert set(pools) == {"m0", "m1"} and pools["m0"]["residuals"].shape[1] == 1
    lots = [{"installation": "l0", "material": m, "input_stream": "post-consumer"} | dict.fromkeys(FEATURES, x)
            for m, x in (("m0", 0.3), ("m1", 0.5), ("m0", 0.8), ("m0", 0.465), ("m2", 0.3))]
    proba = properties.grade_probabilities(
        models, pools, ACCEPTANCE, train.matrix(lots, categories, FEATURES), [r["material"] for r in lots], ["A", "B", "off-spec"]
    )
    assert proba[:3].argmax(axis=1).tolist() == [0, 1, 2] and (proba[:3].max(axis=1) > 0.95).all()
    assert 0.3 < proba[3, 0] < 0.95 and proba[3, 2] < 0.01  # p = -0.21: the lab's scatter may take it past A
    assert np.allclose(proba[:4].sum(axis=1), 1) and np.isnan(proba[4]).all()


def test_a_property_model_holds_features_to_their_training_range():
    """A vacuum reading that touched 0 mbar (the end of the sensor's range) once went through
    its log into a filter pressure value 35 times the lab's."""
    rng = np.random.default_rng(0)
    vacuum = rng.uniform(5, 50, 300)
    rows = [{"installation": "l0", "material": "m0", "input_stream": "post-consumer", "x": float(v), "z": float(rng.random())}
            for v in vacuum]
    measured = pd.DataFrame({"p": 3 / np.sqrt(vacuum) * np.exp(rng.normal(scale=0.02, size=300))})  # a power law
    categories = {"installation": ["l0"], "material": ["m0"], "input_stream": ["post-consumer"]}
    models, _ = properties.fit_property_models(
        train.matrix(rows, categories, ["x", "z"]), measured, np.array(["m0"] * 300), slice(0, 240), slice(240, 300), 20
    )
    at_zero = rows[0] | {"x": 0.0}
    predicted = properties.property_intervals(models, train.matrix([at_zero], categories, ["x", "z"]), ["m0"])["p"][0, 0]
    assert predicted == pytest.approx(3 / np.sqrt(vacuum.min()), rel=0.05)  # as at the lowest reading seen


def test_an_interval_never_reaches_below_zero_for_a_property_never_measured_below_it():
    """PE contamination in PP is 0 % on many lots (so not modelled on the log scale) and a few
    percent on others: its interval read "-1.8 – 5.7 %" on the lot page."""
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, 400)
    rows = [{"installation": "l0", "material": "m0", "input_stream": "post-consumer", "x": float(v), "z": float(rng.random())}
            for v in x]
    measured = pd.DataFrame({"p": np.maximum(0.0, 6 * x - 2 + rng.normal(scale=1.0, size=400))})
    assert (measured["p"] == 0).mean() > 0.2
    categories = {"installation": ["l0"], "material": ["m0"], "input_stream": ["post-consumer"]}
    M = train.matrix(rows, categories, ["x", "z"])
    models, _ = properties.fit_property_models(M, measured, np.array(["m0"] * 400), slice(0, 320), slice(320, 400), 20)
    bounds = properties.property_intervals(models, M, ["m0"] * 400)["p"]
    assert bounds[:, 1].min() >= 0.0 and (bounds[:, 0] >= 0).all()
    assert (bounds[:, 2] > 0).all()


def test_grades_from_predicted_properties_sharpen_the_model():
    m = train.fit(by_property(1000), FEATURES, max_iter=30, acceptance=ACCEPTANCE).metrics
    parts = m["grade_from_properties"]
    assert parts["exponents"][1] > 0.5 and parts["lots"] == 200
    assert parts["properties_macro_f1"] > parts["classifier_macro_f1"] + 0.1
    assert m["model"]["macro_f1"] > parts["classifier_macro_f1"] + 0.1, train.summary(m)
    assert m["model"]["ece"] < 0.05
    without = train.fit(by_property(1000), FEATURES, max_iter=30).metrics
    assert without["grade_from_properties"]["exponents"] == [1, 0] and without["model"]["macro_f1"] == pytest.approx(parts["classifier_macro_f1"])


def test_the_baselines_are_the_material_usual_grade_and_the_line_previous_lot():
    materials = np.array(["pp", "pp", "pet", "pp", "pet", "pet"])
    y = np.array(["A", "A", "B", "C", "B", "A"], dtype=object)
    assert train.usual_grades(materials[:5], y[:5]) == {"pp": "A", "pet": "B"}
    lines = np.array(["e1", "e2", "e1", "e2", "e3", "e1"])
    # lots 3.. : e2's previous is lot 1 (A), e3 has none (fallback), e1's previous is lot 2 (B)
    assert list(train.persistence(lines, y, 3, np.array(["?", "?", "?"], dtype=object))) == ["A", "?", "B"]


def test_a_model_that_only_matches_the_material_usual_grade_is_not_promotable():
    data = synthetic(600, lambda row, rng: "A" if row["material"] == "m0" else "B")
    m = train.fit(data, ["x", "z"], max_iter=30).metrics
    assert m["material_usual"]["macro_f1"] == pytest.approx(1.0)
    assert not m["promotion"]["eligible"]
    # (the logistic regression, given the material, is as good; the line's previous lot is not)
    assert "material_usual" in m["promotion"]["baselines_not_beaten"]
    assert "persistence" not in m["promotion"]["baselines_not_beaten"]
    assert "NOT promotable: does not beat" in train.summary(m)


def test_a_model_that_beats_every_baseline_is_promotable_and_reports_per_group():
    data = synthetic(2000, by_process)
    m = train.fit(data, ["x", "z"], max_iter=60).metrics
    assert m["promotion"]["eligible"], train.summary(m)
    for b in registry.BASELINES:
        assert m["model"]["macro_f1"] > m[b]["macro_f1"]
    test = data.y[-400:]
    assert set(m["per_material"]) == {"m0", "m1"} and set(m["per_installation"]) == {"l0", "l1"}
    assert sum(g["n"] for g in m["per_material"].values()) == len(test)
    assert sum(g["off_spec_n"] for g in m["per_installation"].values()) == int((test == "off-spec").sum())
    assert "per material" in train.summary(m) and "per installation" in train.summary(m)
    for group in (*m["per_material"].values(), *m["per_installation"].values()):
        low, high = group["macro_f1_interval"]
        assert 0 <= low <= group["macro_f1"] <= high <= 1
    assert "90 % interval" in train.summary(m)


def test_a_groups_macro_f1_comes_with_the_spread_its_few_lots_allow():
    """One spurious off-spec prediction among a material's 80 lots costs its macro-F1 a
    quarter; the interval says how much of a group's figure is the luck of its test lots."""
    rng = np.random.default_rng(5)
    y = rng.choice(np.array(["A", "B", "C"], dtype=object), 80)
    pred = y.copy()
    pred[:12] = rng.choice(np.array(["A", "B", "C"], dtype=object), 12)
    pred[40] = "off-spec"
    low, high = train.macro_f1_interval(y, pred, draws=300)
    # The same resamples, scored one by one by scikit-learn.
    idx = np.random.default_rng(0).integers(0, len(y), (300, len(y)))
    each = [f1_score(y[i], pred[i], labels=sorted(set(y[i]) | set(pred[i])), average="macro", zero_division=0) for i in idx]
    assert (low, high) == pytest.approx((np.percentile(each, 5), np.percentile(each, 95)))
    assert high - low > 0.2  # a resample without the spurious lot is a quarter better
    assert train.macro_f1_interval(y, y) == [1.0, 1.0]


def test_the_off_spec_threshold_catches_90_percent_of_the_calibration_slice():
    rng = np.random.default_rng(3)
    classes = ["A", "B", "C", "off-spec"]
    y = np.array(["off-spec"] * 40 + ["A"] * 160, dtype=object)
    p_off = np.where(y == "off-spec", rng.beta(2, 3, len(y)), rng.beta(1, 8, len(y)))
    proba = np.column_stack([1 - p_off, np.zeros_like(p_off), np.zeros_like(p_off), p_off])
    t = train.off_spec_threshold(proba, y, classes)
    alarm = train.off_spec_alarm(proba, classes, t)
    caught = alarm[y == "off-spec"].mean()
    assert caught >= 0.90
    # the highest such threshold: any higher one misses more than 10 %
    assert train.off_spec_alarm(proba, classes, t + 1e-9)[y == "off-spec"].mean() < 0.90
    # without it, the most probable grade raises the alarm for far fewer of them
    assert train.off_spec_alarm(proba, classes, None)[y == "off-spec"].mean() < 0.5
    assert train.off_spec_threshold(proba[y == "A"], y[y == "A"], classes) is None


def test_the_off_spec_alarm_of_a_trained_model_meets_the_recall_on_its_calibration_slice():
    m = train.fit(synthetic(2000, by_process, seed=1), ["x", "z"], max_iter=60).metrics
    off = m["off_spec"]
    assert off["calibration"]["n"] > 5 and off["calibration"]["recall"] >= 0.90
    assert off["test"]["recall"] >= off["test_most_probable_grade"]["recall"]
    assert off["test"]["precision"] is not None  # the price of the alarm is reported


def test_calibration_is_kept_only_when_it_lowers_the_ece_of_the_calibration_slice():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1600, 2))
    y = np.where(X[:, 0] + rng.normal(scale=1.0, size=len(X)) > 0, "A", "B").astype(object)
    fit_, cal = slice(0, 800), slice(800, 1600)
    # Grown deep on noisy labels, boosting is overconfident: temperature scaling helps.
    overconfident = HistGradientBoostingClassifier(max_iter=300, max_leaf_nodes=63, min_samples_leaf=2).fit(X[fit_], y[fit_])
    proba = overconfident.predict_proba(X[cal])
    temperature, info = train.calibrate(proba, y[cal], ["A", "B"])
    assert info["kept"] and temperature is not None and temperature > 1
    assert info["ece_calibrated_slice"] < info["ece_uncalibrated_slice"]
    softer = train.tempered(proba, temperature)
    assert (softer.argmax(axis=1) == proba.argmax(axis=1)).all()  # the most probable grade stays
    assert train.expected_calibration_error(softer, y[cal], ["A", "B"])[0] < info["ece_uncalibrated_slice"]
    # The logistic model of logistic data is calibrated already: a fitted temperature only adds noise.
    logistic = LogisticRegression().fit(X[fit_], y[fit_])
    temperature, info = train.calibrate(logistic.predict_proba(X[cal]), y[cal], ["A", "B"])
    assert not info["kept"] and temperature is None
    assert info["ece_calibrated_slice"] >= info["ece_uncalibrated_slice"]


@pytest.fixture
def simulated(seeded, session_factory, tmp_path):
    """400 SIMULATED lots of the two NTK extrusion lines, graded by the LIMS grading."""
    registry_ = load_registry()
    sub = type(registry_)(registry_.lines, {k: registry_.installations[k] for k in ("ntk-ext1", "ntk-ext2")})
    with session_factory() as s:
        catalogue = LabCatalogue.load(s)
    store = SQLiteStore(tmp_path / "ts.db")
    records = list(generate(store, sub, catalogue, 400, 7, START, step_s=300))
    data = train.build_dataset(store, registry_, records, catalogue=catalogue)
    yield data, catalogue, numeric_feature_names(sub)
    store.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_properties_with_intervals_limits_at_risk_and_explanations_against_the_material(simulated, database_url, session_factory, tmp_path):
    data, catalogue, numeric = simulated
    assert {"mfr", "intrinsic_viscosity", "ash"} <= set(data.properties.columns)
    outcome = train.fit(data, numeric, max_iter=30, limits=catalogue.limits(), acceptance=catalogue.acceptance())
    assert outcome.metrics["grade_from_properties"]["exponents"][1] > 0
    iv = outcome.metrics["intervals"]
    assert iv["n"] > 300
    assert 0.80 <= iv["overall"] <= 0.97, iv  # 90 % intervals, on lots newer than the calibration
    assert set(iv["per_material"]) >= {"pp", "pet"}

    with session_factory.begin() as s:
        predictor = load_predictor(train.register(s, outcome, tmp_path / "models"))
    # The stored artifact predicts what the trained one did.
    newest = data.rows[-60:]
    served = [list(o.probabilities.values()) for o in predictor.predict_rows(newest)]
    trained = train.grade_proba(outcome.artifact, train.matrix(newest, outcome.artifact["categories"], outcome.numeric))
    assert np.allclose(served, trained, atol=1e-4)
    train_rows = pd.DataFrame(data.rows[: outcome.n_train])
    risks = 0
    for row in data.rows[-60:]:
        out = predictor.predict_one(row)
        material = row["material"]
        props = {p["property"]: p for p in out.properties}
        assert ("intrinsic_viscosity" if material == "pet" else "mfr") in props
        assert all(p["low"] <= p["predicted"] <= p["high"] for p in props.values())
        grades = dict((g, lim) for g, lim in catalogue.limits()[material])
        for r in out.limits_at_risk:
            p = props[r["property"]]
            assert r["limit"] == grades[r["grade"]][r["property"]][0 if r["bound"] == "min" else 1]
            assert (p["low"] < r["limit"]) if r["bound"] == "min" else (p["high"] > r["limit"]), (p, r)
        risks += len(out.limits_at_risk)
        same = train_rows[train_rows["material"] == material]
        for f in out.top_features:
            assert f["material_median"] == pytest.approx(same[f["feature"]].median(), abs=1e-3)
    assert risks > 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_version_trained_before_the_grade_from_properties_still_predicts(database_url, session_factory, tmp_path):
    """A rollback may serve one: its classifier wrapped in scikit-learn's temperature scaling,
    one boosted model per property."""
    data = by_property(400)
    outcome = train.fit(data, FEATURES, max_iter=20)
    M = train.matrix(data.rows, outcome.artifact["categories"], outcome.numeric)
    every = np.arange(100)
    old = CalibratedClassifierCV(FrozenEstimator(outcome.artifact["model"]), method="temperature", cv=[(every, every)])
    old.fit(M[:100], data.y[:100])
    columns = list(range(M.shape[1]))
    booster = HistGradientBoostingRegressor(max_iter=10).fit(M[:, columns], data.properties["p"])
    outcome.artifact = {
        "model": old, "categories": outcome.artifact["categories"], "numeric": outcome.numeric, "off_spec_threshold": 0.5,
        "limits": {}, "properties": {"p": {"model": booster, "columns": columns, "log": False, "halfwidth": {"*": 0.1, "m0": 0.1}}},
    }
    with session_factory.begin() as s:
        predictor = load_predictor(train.register(s, outcome, tmp_path / "models"))
    row = next(r for r in reversed(data.rows) if r["material"] == "m0")
    out = predictor.predict_one(row)
    expected = old.predict_proba(train.matrix([row], outcome.artifact["categories"], outcome.numeric))[0]
    assert list(out.probabilities.values()) == pytest.approx(expected, abs=1e-4)
    assert [(p["property"], p["high"] - p["low"]) for p in out.properties] == [("p", pytest.approx(0.2, abs=1e-3))]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_production_model_that_does_not_beat_every_baseline_is_not_served(session_factory, database_url):
    now = datetime(2026, 1, 1, tzinfo=UTC)
    metrics = {"model": {"macro_f1": 0.565}, "logistic_regression": {"macro_f1": 0.654}, "majority": {"macro_f1": 0.2}}
    with session_factory.begin() as s:
        # promoted before the rule existed, like the demo's first model
        s.add(ModelVersion(
            version="old", status="production", promoted_at=now, metrics=metrics, train_start=now, train_end=now,
            n_train=400, n_test=100, features=[], feature_ranges={}, reference={}, classes=["A"],
            artifact_path="/nonexistent", artifact_sha256="0" * 64,
        ))
    with session_factory() as s, pytest.raises(NoProductionModel, match="does not beat logistic_regression"):
        production_predictor(s)
