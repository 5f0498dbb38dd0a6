"""Population stability index: zero for the same population, large for a shifted one."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.drift import drift, psi
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
