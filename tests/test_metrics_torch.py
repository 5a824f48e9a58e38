"""The torch engine (``device="torch-cpu"``) gives the NumPy engine's metrics."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from stbench.errors import StbenchError
from stbench.metrics import RegressionAccumulator, regression_metrics
from stbench.metrics import torch_engine
from tests.test_metrics_regression import sparse_counts

torch = pytest.importorskip("torch")

KS = (1, 3, 10, 100)  # 100 > every panel here: capped


def _data(seed: int, n_spots: int, n_genes: int, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Count-like truth (many zeros and ties, negative values too) and a coarse prediction."""
    rng = np.random.default_rng(seed)
    rates = rng.gamma(0.5, 2.0, size=(1, n_genes))
    y_true = np.log1p(rng.poisson(rates, size=(n_spots, n_genes))).astype(dtype)
    y_true[:, -2:] -= 1.0  # negative values (and -0.0 vs 0.0 ties below)
    y_true[0, -1] = -0.0
    y_pred = np.round(y_true + rng.normal(0, 0.5, y_true.shape), 1).astype(dtype)
    y_true[5] = 0.7  # a constant spot
    y_true[:, 3] = 2.0  # a constant true gene
    y_pred[:, 4] = 1.0  # a constant predicted gene
    y_pred[7] = 0.3  # a constant predicted spot
    return y_true, y_pred


def _stream(y_true, y_pred, sizes, device, ks=KS) -> RegressionAccumulator:
    acc = RegressionAccumulator(y_true.shape[1], ks=ks, device=device)
    bounds = np.cumsum([0, *sizes])
    assert bounds[-1] == len(y_true)
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        acc.update(y_true[start:stop], y_pred[start:stop])
    return acc


def _assert_close(got: dict[str, float], want: dict[str, float], tol: float = 1e-6) -> None:
    assert list(got) == list(want)
    for key, value in want.items():
        if math.isnan(value):
            assert math.isnan(got[key]), key
        else:
            assert got[key] == pytest.approx(value, abs=tol), key


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("block_spots", [None, 7])  # one block per chunk, or several
def test_torch_cpu_equals_numpy(monkeypatch, dtype, block_spots):
    n_genes = 40
    if block_spots:
        monkeypatch.setattr(torch_engine, "BLOCK_ELEMENTS", n_genes * block_spots)
    y_true, y_pred = _data(0, 203, n_genes, dtype)
    sizes = [1, 9, 0, 100, 3, 90]
    want = _stream(y_true, y_pred, sizes, None)
    got = _stream(y_true, y_pred, sizes, "torch-cpu")
    _assert_close(got.compute(), want.compute())
    assert got.excluded() == want.excluded()
    assert got.n_spots == want.n_spots == 203
    _assert_close(got.compute(), regression_metrics(y_true, y_pred, ks=KS))


def test_mixed_dtypes_single_gene_and_single_spot_chunks():
    y_true, y_pred = _data(1, 15, 12)
    y_pred = y_pred.astype(np.float64)
    _assert_close(
        _stream(y_true, y_pred, [1] * 15, "torch-cpu").compute(), _stream(y_true, y_pred, [15], None).compute()
    )
    one_gene = (y_true[:, :1], y_pred[:, :1])
    _assert_close(
        _stream(*one_gene, [5, 10], "torch-cpu", ks=(2,)).compute(), regression_metrics(*one_gene, ks=(2,))
    )


def test_tensor_chunks_and_integer_input():
    y_true, y_pred = _data(2, 30, 20, np.float64)
    acc = RegressionAccumulator(20, ks=KS, device="torch-cpu")
    acc.update(torch.from_numpy(y_true[:11]), torch.from_numpy(y_pred[:11]))
    acc.update(y_true[11:], y_pred[11:])
    _assert_close(acc.compute(), regression_metrics(y_true, y_pred, ks=KS))
    counts = np.random.default_rng(3).integers(0, 4, size=(2, 25, 8))
    acc = RegressionAccumulator(8, ks=(4,), device="torch-cpu")
    acc.update(torch.from_numpy(counts[0]), torch.from_numpy(counts[1]))
    _assert_close(acc.compute(), regression_metrics(counts[0], counts[1], ks=(4,)))


def test_sparse_tied_spots_equal_numpy_in_any_gene_order():
    rng = np.random.default_rng(5)
    y_true = sparse_counts(rng, 30, 1500)
    y_true[4] = 0.0  # a constant spot
    y_pred = np.round(np.maximum(0.5 * y_true + rng.normal(0.2, 0.3, y_true.shape), 0), 1).astype(np.float32)
    y_pred[6] = 0.5  # a constant prediction
    ks = (5, 50, 200, 1000)
    want = _stream(y_true, y_pred, [30], None, ks=ks)
    order = rng.permutation(y_true.shape[1])
    for t, p in ((y_true, y_pred), (y_true[:, order], y_pred[:, order])):
        got = _stream(t, p, [11, 19], "torch-cpu", ks=ks)
        _assert_close(got.compute(), want.compute(), tol=1e-9)
        assert got.excluded() == want.excluded()
    assert want.excluded()["tied_top_1000"] == 29


def test_all_constant_gives_nan_like_numpy():
    y_true = np.zeros((6, 5), np.float32)
    y_pred = np.ones((6, 5), np.float32)
    _assert_close(_stream(y_true, y_pred, [6], "torch-cpu").compute(), regression_metrics(y_true, y_pred, ks=KS))


def test_errors():
    acc = RegressionAccumulator(4, device="torch-cpu")
    with pytest.raises(StbenchError):
        acc.update(np.full((2, 4), np.nan), np.zeros((2, 4)))
    with pytest.raises(StbenchError):
        acc.update(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(StbenchError):
        acc.update(torch.zeros(2, 4), np.zeros((2, 4)))
    with pytest.raises(StbenchError):
        acc.update(torch.zeros(2, 4, dtype=torch.bool), torch.zeros(2, 4))
    acc.update(torch.zeros(0, 4), torch.zeros(0, 4))  # empty: a no-op
    assert acc.n_spots == 0
    for device in ("gpu", "cuda:x", "torch", 0):
        with pytest.raises(StbenchError):
            RegressionAccumulator(4, device=device)
    if not torch.cuda.is_available():
        with pytest.raises(StbenchError):
            RegressionAccumulator(4, device="cuda")


def test_importing_metrics_does_not_import_torch():
    code = "import sys, stbench.metrics; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_equals_numpy():
    y_true, y_pred = _data(4, 500, 300)
    sizes = [200, 1, 299]
    _assert_close(_stream(y_true, y_pred, sizes, "cuda").compute(), _stream(y_true, y_pred, sizes, None).compute())
