"""The chance-adjusted Hungarian accuracy on a real ST section: uninformative predictions score
about 0 although their raw Hungarian accuracy does not, an informative one scores well above."""

from __future__ import annotations

import numpy as np

from stbench.metrics import cluster_slide
from tests.clustering_data import mob_section


def test_adjusted_hungarian_separates_information_from_degeneracy(shared_data):
    truth = mob_section(shared_data, "MOB1")
    n_spots = truth.shape[0]
    constant = cluster_slide(truth, np.tile(truth.mean(axis=0), (n_spots, 1))).scores
    shuffled = cluster_slide(truth, truth[np.random.default_rng(0).permutation(n_spots)]).scores
    noisy = (truth + np.random.default_rng(1).normal(0, 0.7, truth.shape)).astype(np.float32)
    informative = cluster_slide(truth, noisy).scores

    assert constant["hungarian"] > 0.15 and constant["hungarian_adjusted"] == 0.0
    assert shuffled["hungarian"] > 0.15 and abs(shuffled["hungarian_adjusted"]) < 0.06
    assert informative["hungarian_adjusted"] > 0.5
    assert informative["hungarian_adjusted"] < informative["hungarian"]
