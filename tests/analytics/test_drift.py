"""Population stability index: zero for the same population, large for a shifted one."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.drift import drift, psi, recent_drift
from analytics.train import reference_histograms


def test_psi_separates_a_stable_feature_from_a_shifted_one():
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"stable": rng.normal(0, 1, 5000), "shifted": rng.normal(0, 1, 5000), "gone": rng.normal(0, 1, 5000)})
    ref = reference_histograms(train, ["stable", "shifted", "gone"])
    recent = pd.DataFrame({"stable": rng.normal(0, 1, 800), "shifted": rng.normal(1.0, 1, 800), "gone": np.full(800, np.nan)})

    report = {d.feature: d for d in drift(ref, recent)}

    assert report["stable"].psi < 0.05 and report["stable"].level == "stable"
    assert report["shifted"].psi > 0.25 and report["shifted"].level == "major"
    assert report["gone"].level == "no data" and report["gone"].n_recent == 0
    assert [d.feature for d in drift(ref, recent)][:2] == ["shifted", "stable"]


def test_psi_is_zero_for_identical_shares_and_grows_with_the_shift():
    edges = [0.0, 1.0, 2.0]
    shares = [0.25, 0.25, 0.25, 0.25]
    same = np.array([-0.5, 0.5, 1.5, 2.5] * 10)
    assert psi(edges, shares, same) == 0.0
    assert psi(edges, shares, same + 1) < psi(edges, shares, same + 3)


def test_drift_leaves_out_a_lot_still_in_production(session_factory, seeded, tmp_path):
    """`recyclab model drift` compared every lot whose production ends after --days ago, a
    lot planned to end tomorrow too: its half-filled window's means are not the lot's."""
    from datetime import timedelta

    from ingest.registry import load_registry
    from ingest.store.sqlite_store import SQLiteStore
    from lims.kernel.clock import frozen_at, utcnow
    from tests.support.models import version_without_artifact
    from tests.web.seed import lot_with_samples

    finished = lot_with_samples(session_factory, 1)
    with session_factory.begin() as s:
        s.add(version_without_artifact("v-drift", ["A", "B"], status="production"))
    # A lot registered as if two hours on: it ends an hour from now.
    with frozen_at(utcnow() + timedelta(hours=2)):
        running = lot_with_samples(session_factory, 1)
    store = SQLiteStore(tmp_path / "ts.db")
    try:
        with session_factory() as s:
            report = recent_drift(s, store, load_registry(), utcnow() - timedelta(days=1))
    finally:
        store.close()
    assert finished.lot_id != running.lot_id
    assert report.lots == 1
