"""RegressionAccumulator: chunked updates equal the one-shot metrics; exclusion counts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from stbench.errors import StbenchError
from stbench.metrics import RegressionAccumulator, regression_metrics
from stbench.metrics import regression as regression_module


def _data(seed: int, n_spots: int, n_genes: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rates = rng.gamma(0.5, 2.0, size=(1, n_genes))
    y_true = np.log1p(rng.poisson(rates, size=(n_spots, n_genes))).astype(np.float32)
    y_pred = np.round(y_true + rng.normal(0, 0.5, y_true.shape), 1).astype(np.float32)
    return y_true, y_pred


def _stream(y_true, y_pred, sizes, ks=(5, 20, 100)) -> RegressionAccumulator:
    acc = RegressionAccumulator(y_true.shape[1], ks=ks)
    bounds = np.cumsum([0, *sizes])
    assert bounds[-1] == len(y_true)
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        acc.update(y_true[start:stop], y_pred[start:stop])
    return acc


def _assert_equal_metrics(got, want, tol=1e-9):
    assert list(got) == list(want)
    for key in want:
        if math.isnan(want[key]):
            assert math.isnan(got[key]), key
        else:
            assert got[key] == pytest.approx(want[key], abs=tol), key


@pytest.mark.parametrize("block_spots", [None, 8])  # one block per chunk, or several
def test_uneven_chunks_equal_one_shot(monkeypatch, block_spots):
    if block_spots:
        monkeypatch.setattr(regression_module, "BLOCK_ELEMENTS", 60 * block_spots)
    y_true, y_pred = _data(0, 301, 60)
    y_true[10] = 0.5  # a constant spot inside a chunk
    y_pred[:, 4] = 1.0  # a predicted gene constant across all chunks
    acc = _stream(y_true, y_pred, [1, 7, 0, 150, 3, 140])
    _assert_equal_metrics(acc.compute(), regression_metrics(y_true, y_pred, ks=(5, 20, 100)))
    assert acc.n_spots == 301


def test_many_internal_blocks_equal_one_block(monkeypatch):
    y_true, y_pred = _data(1, 97, 40)
    one_block = regression_metrics(y_true, y_pred, ks=(5, 40))
    monkeypatch.setattr(regression_module, "BLOCK_ELEMENTS", 40 * 6)  # 6 spots per block
    _assert_equal_metrics(regression_metrics(y_true, y_pred, ks=(5, 40)), one_block)


def test_excluded_counts():
    y_true, y_pred = _data(2, 50, 30)
    y_true[[3, 17, 40]] = 0.0  # constant spots (zero, like the constant genes)
    y_true[:, [0, 5]] = 0.0  # constant genes
    y_pred[:, 8] = 1.0  # a constant prediction is scored 0, not excluded
    acc = _stream(y_true, y_pred, [20, 30], ks=(1, 5))
    excluded = acc.excluded()
    constant_genes = np.ptp(y_true, axis=0) == 0
    assert constant_genes[[0, 5]].all() and not constant_genes[8]
    assert excluded["constant_spots"] == 3
    assert excluded["constant_genes"] == int(constant_genes.sum())
    assert excluded["constant_top_1"] == 50  # a one-gene block is always constant
    top5 = np.sort(y_true, axis=1)[:, -5:]
    assert excluded["constant_top_5"] == int((top5[:, 0] == top5[:, -1]).sum())
    # Scored spots whose 5th largest true value is shared by a gene outside the top 5.
    ranked = np.sort(y_true, axis=1)[:, ::-1]
    scored = np.ptp(y_true, axis=1) > 0
    assert excluded["tied_top_5"] == int((scored & (ranked[:, 4] == ranked[:, 5])).sum()) > 0
    assert excluded["tied_top_1"] == int((scored & (ranked[:, 0] == ranked[:, 1])).sum())
    assert set(excluded) == {
        "constant_spots", "constant_genes", "constant_top_1", "constant_top_5", "tied_top_1", "tied_top_5"
    }  # fmt: skip


def test_gene_pearson_survives_large_offsets():
    # Values ~1e4 with variations of ~1e-3: raw sums of squares would cancel catastrophically.
    rng = np.random.default_rng(3)
    base = rng.normal(size=(5000, 3))
    y_true = 1e4 + 1e-3 * base
    y_pred = 1e4 + 1e-3 * (base + rng.normal(size=base.shape))
    acc = _stream(y_true, y_pred, [1234, 2000, 1766], ks=(2,))
    want = np.mean([stats.pearsonr(y_true[:, j], y_pred[:, j]).statistic for j in range(3)])
    assert acc.compute()["pearson_gene"] == pytest.approx(want, abs=1e-9)


def test_pooled_constant_prediction_scores_zero():
    y_true, _ = _data(4, 40, 6)
    y_pred = np.full(y_true.shape, 0.1)  # 0.1 is inexact in binary: sums of it round
    acc = _stream(y_true, y_pred, [13, 27], ks=(3,))
    assert acc.compute()["pearson_gene"] == 0.0
    # Constant within each chunk but different between chunks: not constant overall.
    y_pred[:13] = 0.2
    acc = _stream(y_true, y_pred, [13, 27], ks=(3,))
    want = np.nanmean(
        [stats.pearsonr(y_true[:, j], y_pred[:, j]).statistic for j in range(6) if np.ptp(y_true[:, j]) > 0]
    )
    assert acc.compute()["pearson_gene"] == pytest.approx(want, abs=1e-9)


def test_single_spot_chunks():
    y_true, y_pred = _data(5, 12, 9)
    acc = _stream(y_true, y_pred, [1] * 12, ks=(4,))
    _assert_equal_metrics(acc.compute(), regression_metrics(y_true, y_pred, ks=(4,)))


def test_misuse_raises_user_error():
    acc = RegressionAccumulator(5)
    with pytest.raises(StbenchError):
        acc.compute()
    with pytest.raises(StbenchError):
        acc.update(np.zeros((2, 4)), np.zeros((2, 4)))
    with pytest.raises(StbenchError):
        RegressionAccumulator(5, device="tpu")
    with pytest.raises(StbenchError):
        RegressionAccumulator(0)
    acc.update(np.zeros((0, 5)), np.zeros((0, 5)))  # an empty chunk is a no-op
    assert acc.n_spots == 0
