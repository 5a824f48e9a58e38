"""Clustering metrics: Hungarian accuracy and its chance adjustment, ARI/NMI, the Leiden pipeline
and the averaging over seeds (scanpy itself is compared in test_clustering_scanpy.py)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from stbench.errors import StbenchError
from stbench.metrics import (
    CLUSTERING_DEFAULTS,
    adjusted_hungarian,
    canonical_order,
    cluster_slide,
    clustering_metrics,
    hungarian_accuracy,
    hungarian_chance,
    leiden_labels,
)
from stbench.metrics.clustering import LEADERBOARD_KEYS, _seed_labels, _settings
from stbench.metrics.label_agreement import _random_tables
from tests.clustering_data import domains_slide


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
    for cluster in np.unique(by_leidenalg):
        assert len(np.unique(blob[by_leidenalg == cluster])) == 1
    np.testing.assert_array_equal(leiden_labels(x, seed=0, flavor="leidenalg"), by_leidenalg)


def test_leiden_labels_follow_the_data_not_a_stale_memo():
    x = domains_slide(11, n_spots=150)
    before = leiden_labels(x, seed=3)
    before[:] = -1  # the caller's copy is writable and does not touch the memo
    again = leiden_labels(x, seed=3)
    assert again.min() == 0
    other = domains_slide(12, n_spots=150, n_domains=3)
    x[:] = other  # edit in place: same array, new content
    after = leiden_labels(x, seed=3)
    np.testing.assert_array_equal(after, leiden_labels(other, seed=3))
    assert after.max() != again.max() or not np.array_equal(after, again)


def test_edge_weights_change_the_partition():
    x = np.random.default_rng(0).normal(size=(300, 80)).astype(np.float32)  # no structure: weights decide
    weighted = [leiden_labels(x, seed=s) for s in range(3)]
    unweighted = [leiden_labels(x, seed=s, use_weights=False) for s in range(3)]
    assert any(not np.array_equal(w, u) for w, u in zip(weighted, unweighted, strict=True))


def test_slide_scores_are_means_over_seeds_of_the_label_scores():
    x, _ = _blobs(2, spread=3.0)
    noisy = x + np.random.default_rng(3).normal(0, 16.0, size=x.shape)
    params = {"resolution": 0.8, "n_neighbors": 10, "n_seeds": 3, "chance_permutations": 200}
    got = cluster_slide(x, noisy, seed=4, **params)
    per_seed = []
    for s in (4, 5, 6):
        labels_true = leiden_labels(x, seed=s, **params)
        labels_pred = leiden_labels(noisy, seed=s, **params)
        hungarian = _hungarian_by_lsa(labels_true, labels_pred)
        chance = hungarian_chance(labels_true, labels_pred, n_permutations=200, seed=s)
        per_seed.append({
            "hungarian": hungarian,
            "hungarian_chance": chance,
            "hungarian_adjusted": (hungarian - chance) / (1 - chance),
            "ari": adjusted_rand_score(labels_true, labels_pred),
            "nmi": normalized_mutual_info_score(labels_true, labels_pred),
        })
        if s == 4:
            np.testing.assert_array_equal(got.labels_true, labels_true)
            np.testing.assert_array_equal(got.labels_pred, labels_pred)
    assert 0.1 < got.scores["ari"] < 0.95  # a partial match, so the comparison means something
    for key in per_seed[0]:
        values = [r[key] for r in per_seed]
        assert got.scores[key] == pytest.approx(np.mean(values))
        if key != "hungarian_chance":
            assert got.scores[f"{key}_seed_std"] == pytest.approx(np.std(values))
    assert clustering_metrics(x, noisy, seed=4, **params) == {k: got.scores[k] for k in LEADERBOARD_KEYS}


def test_permuting_the_spots_permutes_the_labels_and_keeps_every_score():
    # No structure (like a hard slide): the graph's ties and Leiden's moves decide the labels.
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 80)).astype(np.float32)
    y = (x + rng.normal(0, 2.0, size=x.shape)).astype(np.float32)
    perm = rng.permutation(len(x))
    raw = _seed_labels(x, _settings({}), range(0, 1))[0]
    raw_permuted = _seed_labels(x[perm], _settings({}), range(0, 1))[0]
    assert adjusted_rand_score(raw[perm], raw_permuted) < 0.9  # the bare pipeline depends on the order
    got = cluster_slide(x, y, seed=0, n_seeds=3)
    permuted = cluster_slide(x[perm], y[perm], seed=0, n_seeds=3)
    np.testing.assert_array_equal(permuted.labels_true, got.labels_true[perm])
    np.testing.assert_array_equal(permuted.labels_pred, got.labels_pred[perm])
    assert permuted.scores == got.scores
    np.testing.assert_array_equal(leiden_labels(x[perm], seed=1), leiden_labels(x, seed=1)[perm])
    np.testing.assert_array_equal(x[perm][canonical_order(x[perm])], x[canonical_order(x)])


def test_reference_seed_agreement_is_the_mean_pairwise_ari_of_the_true_labelings():
    x = np.random.default_rng(6).normal(size=(200, 60)).astype(np.float32)
    y = x[::-1].copy()
    labelings = [leiden_labels(x, seed=s) for s in (2, 3, 4)]
    pairs = [adjusted_rand_score(a, b) for a, b in itertools.combinations(labelings, 2)]
    got = cluster_slide(x, y, seed=2, n_seeds=3).scores["reference_seed_ari"]
    assert got == pytest.approx(np.mean(pairs)) and got < 1.0  # unstable without structure
    blobs, _ = _blobs(4)
    assert cluster_slide(blobs, blobs, n_seeds=3).scores["reference_seed_ari"] == 1.0
    assert math.isnan(cluster_slide(x, y, n_seeds=1).scores["reference_seed_ari"])


def test_one_seed_has_no_spread():
    x = domains_slide(13, n_spots=120)
    y = x + np.random.default_rng(1).normal(0, 1.0, x.shape).astype(np.float32)
    scores = cluster_slide(x, y, n_seeds=1).scores
    assert all(scores[f"{k}_seed_std"] == 0.0 for k in LEADERBOARD_KEYS)
    assert scores["hungarian"] == pytest.approx(hungarian_accuracy(leiden_labels(x), leiden_labels(y)))


def test_perfect_prediction_scores_one():
    x = domains_slide(4, n_spots=200)
    got = cluster_slide(x, x.copy(), seed=2)
    for key in LEADERBOARD_KEYS:
        assert got.scores[key] == 1.0
        assert got.scores[f"{key}_seed_std"] == 0.0
    assert got.scores["hungarian_chance"] < 0.5
    np.testing.assert_array_equal(got.labels_true, got.labels_pred)


def test_constant_prediction_is_one_cluster_and_scores_zero_adjusted():
    x = domains_slide(5)
    constant = np.tile(x.mean(axis=0), (len(x), 1))
    np.testing.assert_array_equal(leiden_labels(constant), np.zeros(len(x)))
    got = cluster_slide(x, constant)
    largest = np.mean([np.bincount(leiden_labels(x, seed=s)).max() / len(x) for s in range(5)])
    assert got.scores["hungarian"] == pytest.approx(largest)  # the raw score rewards it ...
    assert got.scores["hungarian"] > 1 / got.scores["n_clusters_true"]
    assert got.scores["hungarian_chance"] == pytest.approx(largest)  # ... its chance is the same
    assert got.scores["hungarian_adjusted"] == 0.0
    assert got.scores["ari"] == pytest.approx(0.0) and got.scores["nmi"] == pytest.approx(0.0)
    assert got.scores["n_clusters_pred"] == 1.0


@pytest.mark.parametrize("case", ["wrong slide", "shuffled spots"])
def test_uninformative_predictions_score_about_zero_adjusted(case):
    truth = domains_slide(6)
    pred = domains_slide(106) if case == "wrong slide" else truth[np.random.default_rng(6).permutation(len(truth))]
    scores = cluster_slide(truth, pred).scores
    assert scores["n_clusters_pred"] >= 3  # a real clustering, not a degenerate one
    assert abs(scores["hungarian_adjusted"]) < 0.06  # the per-seed spread is about 0.015
    assert scores["hungarian"] == pytest.approx(scores["hungarian_chance"], abs=0.05)
    assert abs(scores["ari"]) < 0.03


def test_chance_matches_exhaustive_enumeration():
    labels_true = np.array([0, 0, 0, 1, 1, 2, 2])
    labels_pred = np.array([5, 5, 6, 6, 7, 7, 7])
    exact = np.mean([hungarian_accuracy(labels_true, labels_pred[list(p)]) for p in itertools.permutations(range(7))])
    got = hungarian_chance(labels_true, labels_pred, n_permutations=20000, seed=0)
    assert got == pytest.approx(exact, abs=0.005)  # Monte-Carlo standard error ~0.001
    assert got != hungarian_chance(labels_true, labels_pred, n_permutations=20000, seed=1)
    assert got == hungarian_chance(labels_true, labels_pred, n_permutations=20000, seed=0)


def test_chance_matches_shuffling_spots():
    rng = np.random.default_rng(3)
    labels_true = rng.choice(6, size=300, p=[0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
    labels_pred = rng.choice(4, size=300, p=[0.4, 0.3, 0.2, 0.1])
    by_shuffling = [hungarian_accuracy(labels_true, rng.permutation(labels_pred)) for _ in range(2000)]
    got = hungarian_chance(labels_true, labels_pred, n_permutations=2000, seed=0)
    standard_error = np.std(by_shuffling) / np.sqrt(2000)
    assert got == pytest.approx(np.mean(by_shuffling), abs=5 * standard_error * np.sqrt(2))


def test_random_tables_have_the_margins_and_the_expected_cells():
    true_sizes, pred_sizes = np.array([50, 30, 20]), np.array([10, 60, 25, 5])
    tables = _random_tables(true_sizes, pred_sizes, 4000, np.random.default_rng(0))
    assert tables.shape == (4000, 3, 4) and tables.min() >= 0
    assert (tables.sum(axis=2) == true_sizes).all() and (tables.sum(axis=1) == pred_sizes).all()
    expected = np.outer(true_sizes, pred_sizes) / 100  # hypergeometric means
    np.testing.assert_allclose(tables.mean(axis=0), expected, atol=0.15)


def test_chance_is_exact_for_a_single_cluster():
    labels_true = np.array([0, 0, 0, 1, 1, 2])
    assert hungarian_chance(labels_true, np.zeros(6)) == pytest.approx(0.5)
    assert hungarian_chance(np.zeros(6), labels_true) == pytest.approx(0.5)
    assert hungarian_chance(np.zeros(6), np.ones(6)) == 1.0
    assert adjusted_hungarian(1.0, 1.0) == 1.0
    assert adjusted_hungarian(0.5, 0.5) == 0.0
    assert adjusted_hungarian(0.75, 0.5) == pytest.approx(0.5)
    with pytest.raises(StbenchError):
        hungarian_chance(labels_true, labels_true, n_permutations=0)


@pytest.mark.parametrize(("n_spots", "n_genes"), [(2, 5), (3, 1), (7, 4), (14, 50), (20, 60)])
def test_tiny_slides(n_spots, n_genes):
    # Fewer spots than n_neighbors, few genes (no PCA), and n_pcs capped by the data size.
    x = np.random.default_rng(n_spots).normal(size=(n_spots, n_genes))
    labels = leiden_labels(x)
    assert labels.shape == (n_spots,) and labels.min() == 0
    scores = clustering_metrics(x, x)
    assert scores == {"hungarian": 1.0, "hungarian_adjusted": 1.0, "ari": 1.0, "nmi": 1.0}


def test_one_spot_slide_is_nan_and_labelled_zero():
    x = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(leiden_labels(x), [0])
    got = cluster_slide(x, x)
    assert all(math.isnan(v) for v in got.scores.values())
    two_spots = np.array([[1.0, 2.0, 3.0], [0.0, 2.0, 1.0]])
    assert set(got.scores) == set(cluster_slide(two_spots, two_spots).scores)  # the same keys, all NaN
    np.testing.assert_array_equal(got.labels_pred, [0])


def test_defaults_are_explicit_and_params_validated():
    assert CLUSTERING_DEFAULTS == {
        "n_pcs": 30,
        "n_neighbors": 15,
        "resolution": 1.0,
        "flavor": "igraph",
        "n_iterations": 2,
        "use_weights": True,
        "n_seeds": 5,
        "chance_permutations": 1000,
    }
    x, _ = _blobs(6)
    bad_params = (
        {"k": 3}, {"flavor": "louvain"}, {"n_pcs": 0}, {"n_iterations": 0}, {"resolution": 0},
        {"n_seeds": 0}, {"chance_permutations": 0}, {"use_weights": 1},
    )
    for bad in bad_params:
        with pytest.raises(StbenchError):
            cluster_slide(x, x, **bad)
    with pytest.raises(StbenchError):
        leiden_labels(np.array([[0.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(StbenchError):
        cluster_slide(x, np.full_like(x, np.inf))
