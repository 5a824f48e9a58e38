"""Top-k metrics on sparse spots with heavy ties: gene order never matters.

Real spots are sparse (median ~540 detected genes of ~14,000), so the top 200 or 1000
of most spots reaches into tied small counts and zeros.  These tests check, on such
data, that every metric is invariant to a permutation of the genes, that recall is the
expected overlap under random tie-breaking (against a Monte-Carlo average and, without
ties, against the plain definition), and the exclusion and tie counts.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from stbench.metrics import RegressionAccumulator, regression_metrics
from tests.test_metrics_regression import assert_metrics_close, reference_metrics, sparse_counts

KS = (50, 200, 1000)


def _predictions(rng: np.random.Generator, y_true: np.ndarray) -> dict[str, np.ndarray]:
    """Predictions of several kinds, each with ties of its own."""
    gene_mean = y_true.mean(axis=0)
    noisy = np.maximum(0.5 * y_true + gene_mean + rng.normal(0, 0.3, y_true.shape), 0.0)
    return {
        # Rounded to 0.1 and clipped at 0: many predicted zeros and equal values.
        "noisy_rounded": np.round(noisy, 1).astype(np.float32),
        # The same profile for every spot (the `mean` baseline).
        "mean_profile": np.tile(gene_mean, (len(y_true), 1)).astype(np.float32),
        # One value per spot: every gene tied in the prediction.
        "constant": np.repeat(y_true.mean(axis=1, keepdims=True), y_true.shape[1], axis=1),
    }


@pytest.fixture(scope="module")
def sparse_pair() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(10)
    y_true = sparse_counts(rng, 40, 2_000)
    y_true[7] = 0.0  # a constant (empty) spot
    y_true[8] = 0.0
    y_true[8, :3] = np.log1p(2.0)  # three genes tied at the maximum, the rest zero
    return y_true, _predictions(rng, y_true)


@pytest.mark.parametrize("kind", ["noisy_rounded", "mean_profile", "constant"])
def test_every_metric_is_invariant_to_gene_order(sparse_pair, kind):
    y_true, predictions = sparse_pair
    y_pred = predictions[kind]
    want = regression_metrics(y_true, y_pred, ks=KS)
    rng = np.random.default_rng(11)
    for _ in range(3):
        order = rng.permutation(y_true.shape[1])
        assert_metrics_close(regression_metrics(y_true[:, order], y_pred[:, order], ks=KS), want, tol=1e-9)
    reversed_genes = regression_metrics(y_true[:, ::-1], y_pred[:, ::-1], ks=KS)
    assert_metrics_close(reversed_genes, want, tol=1e-9)


def test_matches_the_reference_on_sparse_spots(sparse_pair):
    y_true, predictions = sparse_pair
    for kind, y_pred in predictions.items():
        got = regression_metrics(y_true, y_pred, ks=(5, *KS))
        assert_metrics_close(got, reference_metrics(y_true, y_pred, (5, *KS)), tol=1e-9)
        assert got["recall_1000"] < 1.0, kind  # the tie rule matters here


def test_panel_of_14000_genes_is_invariant_and_matches_reference():
    rng = np.random.default_rng(12)
    y_true = sparse_counts(rng, 6, 14_000, detected=0.04)  # ~560 detected genes per spot
    y_pred = _predictions(rng, y_true)["noisy_rounded"]
    want = reference_metrics(y_true, y_pred, KS)
    assert_metrics_close(regression_metrics(y_true, y_pred, ks=KS), want, tol=1e-9)
    order = rng.permutation(y_true.shape[1])
    assert_metrics_close(regression_metrics(y_true[:, order], y_pred[:, order], ks=KS), want, tol=1e-9)


def _monte_carlo_recall(true_row, pred_row, k, trials, rng) -> tuple[float, float]:
    """Mean and standard error of |top-k true ∩ top-k predicted| / k when each side's
    ties are broken by independent uniform random orders."""

    def random_top_k(row):
        noise = rng.random((trials, row.size))
        values = np.broadcast_to(-row.astype(np.float32), (trials, row.size))
        order = np.lexsort((noise, values), axis=-1)  # by value, ties in random order
        chosen = np.zeros((trials, row.size), bool)
        np.put_along_axis(chosen, order[:, :k], True, axis=1)
        return chosen

    overlap = (random_top_k(true_row) & random_top_k(pred_row)).sum(axis=1) / k
    return float(overlap.mean()), float(overlap.std(ddof=1) / math.sqrt(trials))


@pytest.mark.parametrize("k", [3, 10, 25])
def test_recall_is_the_expected_overlap_under_random_tie_breaking(k):
    rng = np.random.default_rng(13)
    # Small panels with a few distinct values: ties at the k-th value on both sides.
    y_true = rng.integers(0, 4, size=(4, 60)).astype(np.float32)
    y_pred = rng.integers(0, 3, size=(4, 60)).astype(np.float32)
    for i in range(len(y_true)):
        got = regression_metrics(y_true[i : i + 1], y_pred[i : i + 1], ks=(k,))[f"recall_{k}"]
        mean, se = _monte_carlo_recall(y_true[i], y_pred[i], k, 20_000, rng)
        assert se > 0  # the tie-breaking really is random here
        assert abs(got - mean) <= 3 * se, (i, got, mean, se)


def test_recall_without_ties_is_the_plain_overlap():
    rng = np.random.default_rng(14)
    y_true = rng.permutation(np.arange(1, 501, dtype=np.float32) / 7)[None, :].repeat(20, 0)
    y_true = np.stack([rng.permutation(row) for row in y_true])  # distinct values per spot
    y_pred = y_true + rng.normal(0, 10.0, y_true.shape).astype(np.float32)
    assert all(len(np.unique(row)) == row.size for row in y_pred)
    for k in (1, 17, 50, 499):
        plain = np.mean(
            [
                np.intersect1d(np.argsort(-t)[:k], np.argsort(-p)[:k]).size / k
                for t, p in zip(y_true, y_pred, strict=True)
            ]
        )
        assert regression_metrics(y_true, y_pred, ks=(k,))[f"recall_{k}"] == pytest.approx(plain, abs=1e-12)
    acc = RegressionAccumulator(y_true.shape[1], ks=(50,))
    acc.update(y_true, y_pred)
    assert acc.excluded()["tied_top_50"] == 0


def test_constant_spot_is_excluded_from_every_per_spot_metric_and_counted():
    rng = np.random.default_rng(15)
    y_true = sparse_counts(rng, 12, 300, detected=0.2)
    y_pred = _predictions(rng, y_true)["noisy_rounded"]
    kept = regression_metrics(y_true[1:], y_pred[1:], ks=(10, 50))
    y_true[0] = 0.0  # now constant, whatever is predicted
    acc = RegressionAccumulator(300, ks=(10, 50))
    acc.update(y_true, y_pred)
    got = acc.compute()
    for key in ("pearson", "spearman_10", "spearman_50", "recall_10", "recall_50"):
        assert got[key] == pytest.approx(kept[key], abs=1e-12), key
    excluded = acc.excluded()
    assert excluded["constant_spots"] == 1
    assert excluded["constant_top_10"] >= 1 and excluded["constant_top_50"] >= 1


def test_tied_top_counts_spots_whose_boundary_falls_inside_ties(sparse_pair):
    y_true, predictions = sparse_pair
    acc = RegressionAccumulator(y_true.shape[1], ks=(5, *KS))
    acc.update(y_true, predictions["noisy_rounded"])
    excluded = acc.excluded()
    ranked = np.sort(y_true, axis=1)[:, ::-1]
    scored = np.ptp(y_true, axis=1) > 0
    for k in (5, *KS):
        want = int((scored & (ranked[:, k - 1] == ranked[:, k])).sum())
        assert excluded[f"tied_top_{k}"] == want
        assert excluded[f"constant_top_{k}"] == int((ranked[:, k - 1] == ranked[:, 0]).sum())
    assert excluded["tied_top_1000"] == scored.sum()  # sparse: every scored spot reaches zeros
    assert excluded["constant_spots"] == 1
    # Spot 8's top-3 block is its three tied maxima (constant: excluded); its top-5
    # block adds every zero, so it is scored.
    spot8 = regression_metrics(y_true[8:9], predictions["noisy_rounded"][8:9], ks=(3, 5))
    assert math.isnan(spot8["spearman_3"]) and not math.isnan(spot8["spearman_5"])
    assert spot8["recall_3"] == pytest.approx(
        reference_metrics(y_true[8:9], predictions["noisy_rounded"][8:9], (3,))["recall_3"], abs=1e-12
    )


def test_k_capped_at_panel_size_has_no_ties_and_full_recall():
    rng = np.random.default_rng(16)
    y_true = sparse_counts(rng, 10, 30, detected=0.3)
    y_true[:, 0] = 3.0  # no constant spot
    y_pred = _predictions(rng, y_true)["noisy_rounded"]
    acc = RegressionAccumulator(30, ks=(30, 1000))
    acc.update(y_true, y_pred)
    got = acc.compute()
    assert got["recall_1000"] == got["recall_30"] == 1.0
    assert got["spearman_1000"] == got["spearman_30"]
    assert acc.excluded()["tied_top_1000"] == 0
