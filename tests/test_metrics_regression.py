"""regression_metrics against independent per-spot/per-gene loops over scipy.stats.

``reference_metrics`` and ``sparse_counts`` are shared with the tie tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from stbench.errors import StbenchError
from stbench.metrics import regression_metrics


def _correlation_or_rule(corr, true: np.ndarray, pred: np.ndarray) -> float | None:
    """None if the truth is constant (excluded), 0 if only the prediction is."""
    if np.ptp(true) == 0:
        return None
    if np.ptp(pred) == 0:
        return 0.0
    return float(corr(true, pred).statistic)


def _mean_or_nan(values: list[float | None]) -> float:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else math.nan


def top_k_chances(row: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """Each gene's chance of being in the top k when ties are broken at random, and the
    k-th largest value (float32 values, the documented ranking precision)."""
    values = row.astype(np.float32).astype(np.float64)
    kth = np.sort(values)[::-1][k - 1]
    above, tied = np.sum(values > kth), np.sum(values == kth)
    return np.where(values > kth, 1.0, np.where(values == kth, (k - above) / tied, 0.0)), kth


def reference_metrics(y_true: np.ndarray, y_pred: np.ndarray, ks) -> dict[str, float]:
    """The documented definitions, one spot and one gene at a time with scipy.stats."""
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    n_spots, n_genes = t.shape
    out = {
        "l1": float(np.abs(t - p).mean()),
        "pearson": _mean_or_nan([_correlation_or_rule(stats.pearsonr, t[i], p[i]) for i in range(n_spots)]),
        "pearson_gene": _mean_or_nan(
            [_correlation_or_rule(stats.pearsonr, t[:, j], p[:, j]) for j in range(n_genes)]
        ),
    }
    for k in ks:
        kc = min(k, n_genes)
        spearman, recall = [], []
        for i in range(n_spots):
            if np.ptp(t[i]) == 0:  # constant truth: no top k, excluded from everything
                continue
            chance_true, kth = top_k_chances(t[i], kc)
            recall.append(float(chance_true @ top_k_chances(p[i], kc)[0]) / kc)
            block = t[i].astype(np.float32) >= kth  # every gene valued at least the k-th
            block_true, block_pred = t[i, block].astype(np.float32), p[i, block].astype(np.float32)
            spearman.append(_correlation_or_rule(stats.spearmanr, block_true, block_pred))
        out[f"spearman_{k}"] = _mean_or_nan(spearman)
        out[f"recall_{k}"] = _mean_or_nan(recall)
    return out


def sparse_counts(rng: np.random.Generator, n_spots: int, n_genes: int, detected: float = 0.05) -> np.ndarray:
    """log1p counts of real-like sparse spots: ~``detected`` of the genes non-zero per spot,
    mostly 1 or 2 counts, so the top k of most spots reaches into ties and zeros."""
    rates = rng.gamma(0.6, 1.5, size=n_genes)
    detected_mask = rng.random((n_spots, n_genes)) < detected * rates / rates.mean()
    counts = np.where(detected_mask, 1 + rng.poisson(rates, size=(n_spots, n_genes)), 0)
    return np.log1p(counts).astype(np.float32)


def assert_metrics_close(got: dict[str, float], want: dict[str, float], tol: float = 1e-9) -> None:
    assert set(got) == set(want)
    for key, value in want.items():
        if math.isnan(value):
            assert math.isnan(got[key]), key
        else:
            assert got[key] == pytest.approx(value, abs=tol), key


def _counts_like(rng: np.random.Generator, n_spots: int, n_genes: int) -> np.ndarray:
    """log1p of overdispersed counts: many zeros and exact ties, like real spots."""
    rates = rng.gamma(0.5, 2.0, size=(1, n_genes))
    return np.log1p(rng.poisson(rates, size=(n_spots, n_genes))).astype(np.float32)


def test_matches_reference_with_ties_and_constants():
    rng = np.random.default_rng(0)
    y_true = _counts_like(rng, 60, 40)
    y_pred = np.round(y_true + rng.normal(0, 0.6, y_true.shape), 1).astype(np.float32)
    y_true[3] = 1.5  # constant spot: excluded from pearson/spearman/recall
    y_pred[5] = 0.25  # constant prediction for a spot: scores 0
    y_true[:, 7] = 0.0  # constant gene: excluded from pearson_gene
    y_pred[:, 9] = 2.0  # constant predicted gene: scores 0
    ks = (5, 20, 1000)
    assert_metrics_close(regression_metrics(y_true, y_pred, ks=ks), reference_metrics(y_true, y_pred, ks))


def test_matches_reference_float64_with_negative_predictions():
    rng = np.random.default_rng(1)
    y_true = rng.normal(size=(30, 25))
    y_pred = y_true * 0.3 + rng.normal(size=(30, 25))
    ks = (3, 10)
    assert_metrics_close(regression_metrics(y_true, y_pred, ks=ks), reference_metrics(y_true, y_pred, ks))


def test_default_keys_and_k_capped_at_panel_size():
    rng = np.random.default_rng(2)
    y_true = _counts_like(rng, 20, 12)
    y_pred = y_true + rng.normal(0, 0.5, y_true.shape).astype(np.float32)
    got = regression_metrics(y_true, y_pred)
    assert list(got) == [
        "l1", "pearson", "pearson_gene",
        "spearman_50", "spearman_200", "spearman_1000",
        "recall_50", "recall_200", "recall_1000",
    ]  # fmt: skip
    assert got["recall_50"] == got["recall_1000"] == 1.0  # k >= panel: every gene is in both top-k
    assert got["spearman_50"] == got["spearman_1000"]
    assert_metrics_close(got, reference_metrics(y_true, y_pred, (50, 200, 1000)))


def test_mean_predictor_scores_zero_pearson_gene():
    rng = np.random.default_rng(3)
    spots = _counts_like(rng, 130, 30)
    train, test = spots[:80], spots[80:]
    mean_prediction = np.tile(train.mean(axis=0), (50, 1))
    got = regression_metrics(test, mean_prediction, ks=(10,))
    assert got["pearson_gene"] == 0.0
    assert got["pearson"] > 0  # the mean profile does follow each spot's gene profile


def test_constant_predictions_score_zero_not_excluded():
    y_true = np.array([[1.0, 2.0, 3.0, 4.0], [4.0, 1.0, 0.0, 2.0]])
    y_pred = np.full_like(y_true, 0.1)
    got = regression_metrics(y_true, y_pred, ks=(3,))
    assert got["pearson"] == got["pearson_gene"] == got["spearman_3"] == 0.0


def test_ties_at_the_boundary_by_hand():
    y_true = np.array([[1.0, 1.0, 1.0, 0.0]])
    y_pred = np.array([[0.0, 1.0, 1.0, 1.0]])
    # k=2: three genes tied at the k-th value on each side, each in the top 2 with chance
    # 2/3; genes 1 and 2 are tied on both sides: expected overlap 2 * (2/3)^2 = 8/9.
    got = regression_metrics(y_true, y_pred, ks=(2, 3))
    assert got["recall_2"] == pytest.approx(4 / 9, abs=1e-15)
    # k=3: true top 3 = {0, 1, 2}, predicted top 3 = {1, 2, 3}: overlap 2.
    assert got["recall_3"] == pytest.approx(2 / 3, abs=1e-15)
    # The block (true value >= the k-th) is {0, 1, 2} for both k: constant, excluded.
    assert math.isnan(got["spearman_2"]) and math.isnan(got["spearman_3"])


def test_spearman_block_takes_all_genes_tied_at_the_kth_value():
    y_true = np.array([[5.0, 3.0, 0.0, 3.0, 3.0, 1.0]])
    y_pred = np.array([[2.0, 0.5, 9.0, 1.5, 1.0, 4.0]])
    # Top 2 ends inside the tie at 3.0: the block is genes {0, 1, 3, 4}.
    want = stats.spearmanr([5.0, 3.0, 3.0, 3.0], [2.0, 0.5, 1.5, 1.0]).statistic
    assert regression_metrics(y_true, y_pred, ks=(2,))["spearman_2"] == pytest.approx(want, abs=1e-12)


def test_negative_zero_ties_with_zero():
    y_true = np.array([[4.0, 3.0, 2.0, 1.0, 0.5]])
    y_pred = np.array([[0.0, -0.0, 1.0, 2.0, 3.0]])
    got = regression_metrics(y_true, y_pred, ks=(4,))
    want = stats.spearmanr(y_true[0, :4], y_pred[0, :4]).statistic
    assert got["spearman_4"] == pytest.approx(want, abs=1e-12)


def test_one_spot_has_no_gene_correlation():
    y_true = np.array([[0.0, 1.0, 2.0, 5.0]], dtype=np.float32)
    y_pred = np.array([[0.5, 0.4, 2.5, 3.0]], dtype=np.float32)
    got = regression_metrics(y_true, y_pred, ks=(3,))
    assert math.isnan(got["pearson_gene"])
    assert_metrics_close(got, reference_metrics(y_true, y_pred, (3,)))


def test_all_spots_constant_gives_nan():
    y_true = np.ones((3, 5))
    y_pred = np.arange(15.0).reshape(3, 5)
    got = regression_metrics(y_true, y_pred, ks=(2,))
    assert math.isnan(got["pearson"]) and math.isnan(got["spearman_2"]) and math.isnan(got["pearson_gene"])
    assert math.isnan(got["recall_2"])  # no spot has a top k
    assert got["l1"] == pytest.approx(np.abs(y_true - y_pred).mean())


def test_float32_and_float64_inputs_agree():
    rng = np.random.default_rng(4)
    y_true = _counts_like(rng, 40, 30)
    y_pred = np.abs(y_true + rng.normal(0, 0.4, y_true.shape)).astype(np.float32)
    single = regression_metrics(y_true, y_pred, ks=(10,))
    double = regression_metrics(y_true.astype(np.float64), y_pred.astype(np.float64), ks=(10,))
    assert_metrics_close(single, double, tol=1e-12)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "ks"),
    [
        (np.zeros((3, 4)), np.zeros((3, 5)), (2,)),  # shape mismatch
        (np.zeros(4), np.zeros(4), (2,)),  # not 2-D
        (np.zeros((0, 4)), np.zeros((0, 4)), (2,)),  # no spots
        (np.zeros((3, 0)), np.zeros((3, 0)), (2,)),  # no genes
        (np.array([[1.0, np.nan]]), np.zeros((1, 2)), (1,)),  # NaN
        (np.zeros((2, 2)), np.array([[1.0, np.inf], [0.0, 0.0]]), (1,)),  # inf
        (np.zeros((2, 2)), np.zeros((2, 2)), ()),  # no k
        (np.zeros((2, 2)), np.zeros((2, 2)), (0,)),  # k < 1
        (np.zeros((2, 2)), np.array([["a", "b"], ["c", "d"]]), (1,)),  # not numbers
    ],
)
def test_bad_input_raises_user_error(y_true, y_pred, ks):
    with pytest.raises(StbenchError):
        regression_metrics(y_true, y_pred, ks=ks)
