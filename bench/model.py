"""Grade model benchmark (not a test): quality over seeds, training time, latency, throughput.

    .venv/bin/python bench/model.py [--lots 6000] [--seeds 20,21,22] [--latency-lots 300] [--influx]

1. Per seed: SIMULATED lots (offline path) into a SQLite time-series store, graded by the
   LIMS grading against a scratch LIMS database; features of every graded lot; training
   (model + calibration + off-spec alarm + baselines + property models + permutation
   importance), timed; the metrics on the newest 20 % of lots.
2. The issue-17 targets over the seeds, mean and spread (sample standard deviation, min,
   max): macro-F1, off-spec alarm recall (and the precision it costs), the worst material's
   macro-F1, ECE, property interval coverage.
3. With the last seed's model: single prediction latency (feature query from the store +
   model + top features + properties) on the newest lots with the SQLite store (and, with
   --influx, with InfluxDB: a private influxd behind the v2-write proxy holding a copy of
   those lots' data); batch throughput: the model alone, and feature query + model.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics import train  # noqa: E402
from analytics.features import lot_features, numeric_feature_names  # noqa: E402
from analytics.lims_link import LabCatalogue  # noqa: E402
from analytics.predict import load_predictor  # noqa: E402
from analytics.simulator.dataset import generate  # noqa: E402
from ingest.registry import load_registry  # noqa: E402
from ingest.store.base import Point  # noqa: E402
from ingest.store.influx_store import InfluxStore  # noqa: E402
from ingest.store.sqlite_store import SQLiteStore  # noqa: E402
from lims.kernel.db import make_engine, make_session_factory  # noqa: E402
from lims.kernel.migrate import upgrade  # noqa: E402
from lims.kernel.settings import config_dir  # noqa: E402
from lims.seed import seed_all  # noqa: E402
from tests.support.influx import PrivateInfluxd, V2WriteProxy  # noqa: E402


def timed(label: str, fn):
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    print(f"{label:58s} {dt:8.2f} s", flush=True)
    return out, dt


def latency(store, registry, predictor, lots) -> np.ndarray:
    times = []
    for lot in lots:
        t0 = time.perf_counter()
        row = lot_features(store, registry.installations[lot.installation], lot)
        predictor.predict_one(row)
        times.append(time.perf_counter() - t0)
    return np.array(times) * 1000


def report(label: str, ms: np.ndarray) -> None:
    print(f"{label:58s} p50 {np.percentile(ms, 50):6.1f} ms  p95 {np.percentile(ms, 95):6.1f} ms  "
          f"max {ms.max():6.1f} ms  (n={len(ms)})", flush=True)


# (label, how to read it off the metrics, target test)
TARGETS = (
    ("macro-F1", lambda m: m["model"]["macro_f1"], lambda v: v >= 0.85, ">= 0.85"),
    ("off-spec alarm recall", lambda m: m["off_spec"]["test"]["recall"], lambda v: v >= 0.90, ">= 0.90"),
    ("off-spec alarm precision", lambda m: m["off_spec"]["test"]["precision"], None, "none (the alarm's cost)"),
    ("worst material macro-F1", lambda m: min(g["macro_f1"] for g in m["per_material"].values()), lambda v: v >= 0.75, ">= 0.75"),
    ("ECE", lambda m: m["model"]["ece"], lambda v: v <= 0.03, "<= 0.03"),
    ("interval coverage", lambda m: m["intervals"]["overall"], lambda v: abs(v - 0.90) <= 0.03, "0.90 +- 0.03"),
    ("macro-F1 lead over best baseline", lambda m: m["model"]["macro_f1"] - max(m[b]["macro_f1"] for b in train.BASELINES),
     lambda v: v > 0, "> 0"),
)


def scratch_lims(work: Path):
    """A seeded LIMS database in ``work`` (what grades the simulated lots) and its catalogue."""
    db_url = f"sqlite:///{work / 'lims.kernel.db'}"
    upgrade(db_url)
    sessions = make_session_factory(make_engine(db_url))
    with sessions.begin() as s:
        seed_all(s, config_dir())
    with sessions() as s:
        return sessions, LabCatalogue.load(s)


def one_seed(work: Path, lots: int, seed: int, catalogue, registry, numeric):
    store = SQLiteStore(work / f"timeseries-{seed}.db")
    start = datetime(2025, 1, 6, tzinfo=UTC)
    records, _ = timed(f"[seed {seed}] simulate {lots} lots into the SQLite store + LIMS grading",
                       lambda: list(generate(store, registry, catalogue, lots, seed, start)))
    graded = [r for r in records if r.grade]
    data, t_features = timed(f"[seed {seed}] features of {len(graded)} lots from the SQLite store",
                             lambda: train.build_dataset(store, registry, graded, catalogue=catalogue))
    outcome, t_train = timed(f"[seed {seed}] training on {len(graded)} lots",
                             lambda: train.fit(data, numeric, limits=catalogue.limits(), acceptance=catalogue.acceptance()))
    print(f"  of which: {outcome.metrics['timings_s']}")
    print(train.summary(outcome.metrics), flush=True)
    return store, graded, data, outcome


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lots", type=int, default=6000, help="lots per seed (the default simulated set)")
    ap.add_argument("--seeds", default="20,21,22")
    ap.add_argument("--latency-lots", type=int, default=300)
    ap.add_argument("--influx", action="store_true", help="also measure latency with a private influxd")
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    seeds = [int(x) for x in args.seeds.split(",")]
    work = args.work or Path(tempfile.mkdtemp(prefix="recyclab-bench-model-"))
    print(f"work dir {work}; {args.lots} SIMULATED lots per seed, seeds {seeds}")
    registry = load_registry()
    numeric = numeric_feature_names(registry)

    sessions, catalogue = scratch_lims(work)

    results = []
    for i, seed in enumerate(seeds):
        store, graded, data, outcome = one_seed(work, args.lots, seed, catalogue, registry, numeric)
        results.append(outcome.metrics)
        if i < len(seeds) - 1:
            store.close()

    print(f"\ntargets over {len(seeds)} seeds ({args.lots} lots each, newest 20 % as test): "
          "mean, sample std, min, max; per seed")
    for label, get, ok, target in TARGETS:
        v = np.array([get(m) if get(m) is not None else np.nan for m in results], dtype=float)
        met = "" if ok is None else (": met" if all(ok(x) for x in v) else ": NOT met")
        print(f"  {label:34s} {np.nanmean(v):6.3f} +- {np.nanstd(v, ddof=1) if len(v) > 1 else 0:5.3f}  "
              f"[{np.nanmin(v):.3f}, {np.nanmax(v):.3f}]  per seed {', '.join(f'{x:.3f}' for x in v)}  target {target}{met}")
    for seed, m in zip(seeds, results, strict=True):
        name, worst = min(m["per_material"].items(), key=lambda kv: kv[1]["macro_f1"])
        low, high = worst["macro_f1_interval"]
        print(f"  seed {seed}: worst material {name}, macro-F1 {worst['macro_f1']:.3f} over {worst['n']} test lots "
              f"(90 % bootstrap interval {low:.3f} to {high:.3f})")
    eligible = sum(m["promotion"]["eligible"] for m in results)
    print(f"  promotable (beats every baseline): {eligible} of {len(results)} seeds", flush=True)

    with sessions.begin() as s:
        mv = train.register(s, outcome, work / "models", note="bench")
        mv.status = "production"  # for the latency figures, whether or not it is promotable
    with sessions() as s:
        predictor = load_predictor(train.model_registry.production(s))

    newest = [r.window for r in graded[-args.latency_lots:]]
    latency(store, registry, predictor, newest[:20])  # warm-up
    report("single prediction incl. feature query, SQLite store", latency(store, registry, predictor, newest))

    if args.influx:
        (work / "influxd").mkdir(exist_ok=True)
        influxd = PrivateInfluxd(work / "influxd").start()
        proxy = V2WriteProxy(influxd.url).start()
        try:
            influxd.create_database("bench")
            influx = InfluxStore(proxy.url, "bench-token", "recyclab", "bench", f"{influxd.url}/query")
            copied = 0
            for lot in newest:
                pts = []
                for sensor in registry.installations[lot.installation].sensors:
                    pts += store.raw(lot.installation, sensor, lot.start, lot.end)
                influx.write([Point(p.installation, p.sensor, p.ts, p.value) for p in pts])
                copied += len(pts)
            print(f"copied {copied} points of {len(newest)} lots into InfluxDB 1.x (private influxd)")
            latency(influx, registry, predictor, newest[:20])
            report("single prediction incl. feature query, InfluxDB store", latency(influx, registry, predictor, newest))
            influx.close()
        finally:
            proxy.stop()
            influxd.stop()

    rows = data.rows[-outcome.n_test:]
    _, dt = timed(f"batch prediction, model only, {len(rows)} lots", lambda: predictor.predict_rows(rows))
    print(f"batch throughput, model only: {len(rows) / dt:,.0f} lots/s")
    sample = [r.window for r in graded[-1000:]]
    t0 = time.perf_counter()
    feats = [lot_features(store, registry.installations[w.installation], w) for w in sample]
    predictor.predict_rows(feats)
    dt = time.perf_counter() - t0
    print(f"batch throughput, feature query (SQLite) + model, {len(sample)} lots: {len(sample) / dt:,.0f} lots/s")
    store.close()
    print(f"finished {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")


if __name__ == "__main__":
    main()
