"""Clustering metrics: Hungarian accuracy, ARI/NMI and the Leiden pipeline."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from stbench.errors import StbenchError
from stbench.metrics import CLUSTERING_DEFAULTS, clustering_metrics, hungarian_accuracy, leiden_labels


def _blobs(seed: int, sizes=(40, 30, 50), n_genes: int = 20, spread: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Well-separated Gaussian blobs (spots, genes) and their blob index per spot."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, size=(len(sizes), n_genes))
    blob = np.repeat(np.arange(len(sizes)), sizes)
    return centres[blob] + rng.normal(0, spread, size=(blob.size, n_genes)), blob


def _hungarian_by_permutation(labels_true, labels_pred) -> float:
    """Brute force: best injective map of the smaller label set into the larger."""
    true_ids, pred_ids = np.unique(labels_true), np.unique(labels_pred)
    best = 0
    if len(true_ids) <= len(pred_ids):
        for image in itertools.permutations(pred_ids, len(true_ids)):
            best = max(best, sum(np.sum((labels_true == t) & (labels_pred == p)) for t, p in zip(true_ids, image)))
    else:
        for image in itertools.permutations(true_ids, len(pred_ids)):
            best = max(best, sum(np.sum((labels_true == t) & (labels_pred == p)) for t, p in zip(image, pred_ids)))
    return best / len(labels_true)


def _hungarian_by_lsa(labels_true, labels_pred) -> float:
    true_ids, t = np.unique(labels_true, return_inverse=True)
    pred_ids, p = np.unique(labels_pred, return_inverse=True)
    table = np.zeros((len(true_ids), len(pred_ids)), dtype=int)
    np.add.at(table, (t, p), 1)
    rows, cols = linear_sum_assignment(-table)
    return table[rows, cols].sum() / len(labels_true)


@pytest.mark.parametrize(
    ("labels_true", "labels_pred", "expected"),
    [
        ([0, 0, 1, 1, 2, 2], [1, 1, 0, 0, 0, 0], 4 / 6),  # fewer predicted clusters
        ([0, 0, 0, 1, 1, 1], [0, 1, 2, 3, 3, 3], 4 / 6),  # more predicted clusters
        ([5, 5, 7, 7], ["a", "a", "b", "b"], 1.0),  # any label values
        ([0, 1, 1, 2, 2, 2], [0, 0, 0, 0, 0, 0], 3 / 6),  # a single predicted cluster
        ([3], [9], 1.0),
    ],
)
def test_hungarian_known_cases(labels_true, labels_pred, expected):
    assert hungarian_accuracy(labels_true, labels_pred) == pytest.approx(expected)


def test_hungarian_matches_independent_references_with_unequal_cluster_counts():
    rng = np.random.default_rng(0)
    for n_true, n_pred in [(2, 5), (5, 2), (4, 4), (1, 3)]:
        labels_true = rng.integers(0, n_true, size=60)
        labels_pred = rng.integers(0, n_pred, size=60)
        got = hungarian_accuracy(labels_true, labels_pred)
        assert got == pytest.approx(_hungarian_by_lsa(labels_true, labels_pred))
        assert got == pytest.approx(_hungarian_by_permutation(labels_true, labels_pred))


def test_hungarian_rejects_bad_labels():
    with pytest.raises(StbenchError):
        hungarian_accuracy([0, 1], [0])
    with pytest.raises(StbenchError):
        hungarian_accuracy([], [])


def test_leiden_never_merges_separated_blobs_and_is_deterministic():
    x, blob = _blobs(1)
    labels = leiden_labels(x, seed=0)
    assert labels.dtype == np.int64 and labels.shape == blob.shape
    for cluster in np.unique(labels):
        assert len(np.unique(blob[labels == cluster])) == 1  # no cluster straddles two blobs
    np.testing.assert_array_equal(leiden_labels(x, seed=0), labels)
    by_leidenalg = leiden_labels(x, seed=0, flavor="leidenalg")
    np.testing.assert_array_equal(leiden_labels(x, seed=0, flavor="leidenalg"), by_leidenalg)


def test_clustering_metrics_equal_sklearn_on_the_leiden_labels():
    x, _ = _blobs(2, spread=3.0)
    noisy = x + np.random.default_rng(3).normal(0, 16.0, size=x.shape)
    params = {"resolution": 0.8, "n_neighbors": 10}
    got = clustering_metrics(x, noisy, seed=1, **params)
    assert 0.2 < got["ari"] < 0.95  # a partial match, so the comparison means something
    labels_true = leiden_labels(x, seed=1, **params)
    labels_pred = leiden_labels(noisy, seed=1, **params)
    assert got == {
        "hungarian": pytest.approx(_hungarian_by_lsa(labels_true, labels_pred)),
        "ari": pytest.approx(adjusted_rand_score(labels_true, labels_pred)),
        "nmi": pytest.approx(normalized_mutual_info_score(labels_true, labels_pred)),
    }
    assert got == clustering_metrics(x, noisy, seed=1, **params)  # deterministic under a seed


def test_perfect_prediction_scores_one():
    x, _ = _blobs(4)
    assert clustering_metrics(x, x.copy()) == {"hungarian": 1.0, "ari": 1.0, "nmi": 1.0}


def test_constant_prediction_is_one_cluster():
    x, _ = _blobs(5)
    constant = np.tile(x.mean(axis=0), (len(x), 1))
    np.testing.assert_array_equal(leiden_labels(constant), np.zeros(len(x)))
    labels_true = leiden_labels(x)
    got = clustering_metrics(x, constant)
    assert got["hungarian"] == pytest.approx(np.bincount(labels_true).max() / len(x))
    assert got["ari"] == pytest.approx(0.0) and got["nmi"] == pytest.approx(0.0)


@pytest.mark.parametrize(("n_spots", "n_genes"), [(2, 5), (3, 1), (7, 4), (14, 50)])
def test_tiny_slides(n_spots, n_genes):
    # Fewer spots than n_neighbors, and n_pcs capped by the data size.
    x = np.random.default_rng(n_spots).normal(size=(n_spots, n_genes))
    labels = leiden_labels(x)
    assert labels.shape == (n_spots,) and labels.min() == 0
    assert clustering_metrics(x, x) == {"hungarian": 1.0, "ari": 1.0, "nmi": 1.0}


def test_one_spot_slide_is_nan_and_labelled_zero():
    x = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(leiden_labels(x), [0])
    assert all(math.isnan(v) for v in clustering_metrics(x, x).values())


def test_defaults_are_explicit_and_params_validated():
    assert CLUSTERING_DEFAULTS == {
        "n_pcs": 30,
        "n_neighbors": 15,
        "resolution": 1.0,
        "flavor": "igraph",
        "n_iterations": 2,
    }
    x, _ = _blobs(6)
    for bad in ({"k": 3}, {"flavor": "louvain"}, {"n_pcs": 0}, {"n_iterations": 0}, {"resolution": 0}):
        with pytest.raises(StbenchError):
            leiden_labels(x, **bad)
    with pytest.raises(StbenchError):
        leiden_labels(np.array([[0.0, np.nan], [1.0, 2.0]]))
