"""Grade model benchmark (not a test): training time, single-prediction latency, throughput.

    .venv/bin/python bench/model.py [--lots 20000] [--latency-lots 300]

1. SIMULATED lots (offline path) into a SQLite time-series store, graded by the LIMS
   grading against a scratch LIMS database.
2. Features for every graded lot, then training (model + calibration + baselines +
   permutation importance), timed separately; the metrics on the newest lots.
3. Single prediction latency (feature query from the store + model + top features) on
   newest lots, with the SQLite store and with InfluxDB (a private influxd behind the
   v2-write proxy, holding a copy of those lots' data).
4. Batch throughput: the model alone over the test lots, and feature query + model.
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
from analytics.registry import promote  # noqa: E402
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lots", type=int, default=20_000)
    ap.add_argument("--latency-lots", type=int, default=300)
    ap.add_argument("--seed", type=int, default=20)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="recyclab-bench-model-"))
    print(f"work dir {work}; {args.lots} SIMULATED lots")
    registry = load_registry()
    numeric = numeric_feature_names(registry)

    db_url = f"sqlite:///{work / 'lims.kernel.db'}"
    upgrade(db_url)
    sessions = make_session_factory(make_engine(db_url))
    with sessions.begin() as s:
        seed_all(s, config_dir())
    with sessions() as s:
        catalogue = LabCatalogue.load(s)

    store = SQLiteStore(work / "timeseries.db")
    start = datetime(2025, 1, 6, tzinfo=UTC)
    records, _ = timed(f"simulate {args.lots} lots into the SQLite store + LIMS grading",
                       lambda: list(generate(store, registry, catalogue, args.lots, args.seed, start)))
    graded = [r for r in records if r.grade]
    data, t_features = timed(f"features of {len(graded)} lots from the SQLite store", lambda: train.build_dataset(store, registry, graded))
    outcome, t_train = timed(f"training on {len(graded)} lots (fit+calibrate+baselines+importance)", lambda: train.fit(data, numeric))
    print(f"  of which: {outcome.metrics['timings_s']}")
    print(f"training time incl. feature query: {t_features + t_train:.1f} s (target <= 60 s for the training itself: {t_train:.1f} s)")
    print(train.summary(outcome.metrics))
    with sessions.begin() as s:
        mv = train.register(s, outcome, work / "models", note="bench")
        promote(s, mv.version)
    with sessions() as s:
        predictor = load_predictor(train.model_registry.production(s))

    newest = [r.window for r in graded[-args.latency_lots:]]
    latency(store, registry, predictor, newest[:20])  # warm-up
    report("single prediction incl. feature query, SQLite store", latency(store, registry, predictor, newest))

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
