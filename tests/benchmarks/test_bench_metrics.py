"""Speed and memory of the regression metrics engine.

Three measurements on the same (spots, genes) float32 log1p arrays:

* ``engine``: :class:`~stbench.metrics.RegressionAccumulator` fed 4,096 spots at a time
  (like slides), then ``compute()``: every regression metric;
* ``scipy_loop``: a straightforward loop, one spot at a time, with scipy.stats (L1,
  Pearson, top-k Spearman and recall for each k) plus one ``pearsonr`` per gene; timed on
  a subsample of spots and genes and extrapolated to the full size;
* ``floor``: ``np.abs(a - b).mean()``, one pass over both arrays (memory-bandwidth
  floor).  It allocates two input-sized temporaries, and on machines where first-touch
  page faults are slow (virtual machines) that allocation can dominate, so
* ``floor_in_place`` does the same arithmetic chunk by chunk into one reused buffer:
  the floor without allocation.

Each prints, and stores in ``benchmark.extra_info``, its seconds and throughput in
spot-genes per second; the engine also reports its peak memory above the inputs,
measured with :mod:`tracemalloc` (NumPy reports its array allocations there) in a
separate, untimed run, and asserts it stays under 1 GiB.  When all four ran, the
ratios are printed at the end of the size.

Sizes: ``small`` (5,000 x 2,000) runs in CI.  ``large`` (100,000 x 5,000, 4 GB of input)
is marked ``benchmark_large`` and runs only when selected, e.g.
``pytest tests/benchmarks -m benchmark_large -s --benchmark-enable``;
``STBENCH_BENCH_SPOTS`` / ``STBENCH_BENCH_GENES`` override its size.
``STBENCH_BENCH_DEVICE`` (e.g. ``cuda``, ``torch-cpu``) runs the engine on that metrics
device (its peak memory then counts host allocations only).  ``STBENCH_BENCH_DETECTED``
(e.g. ``0.15``) keeps each true value of the large case with that probability and sets the
rest to 0 (by default about a quarter are non-zero; 0.15 leaves ~4%, like real sparse
spots with ~540 detected genes of ~14,000, whose top-k blocks reach the tied zeros).
"""

from __future__ import annotations

import os
import time
import tracemalloc
from dataclasses import dataclass, field

import numpy as np
import pytest
from scipy import stats

from stbench.metrics import RegressionAccumulator

KS = (50, 200, 1000)
CHUNK_SPOTS = 4096
LOOP_SPOTS = 200
LOOP_GENES = 50
GIB = 1 << 30
DEVICE = os.environ.get("STBENCH_BENCH_DEVICE") or None


@dataclass
class Case:
    name: str
    y_true: np.ndarray
    y_pred: np.ndarray
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def spot_genes(self) -> int:
        return self.y_true.size


def _size(name: str) -> tuple[int, int]:
    if name == "small":
        return 5_000, 2_000
    return int(os.environ.get("STBENCH_BENCH_SPOTS", 100_000)), int(os.environ.get("STBENCH_BENCH_GENES", 5_000))


def expression(n_spots: int, n_genes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Count-like log1p truth (many zeros and ties) and a noisy non-negative prediction."""
    rng = np.random.default_rng(seed)
    rates = rng.gamma(0.5, 2.0, size=n_genes).astype(np.float32)
    y_true = np.empty((n_spots, n_genes), np.float32)
    y_pred = np.empty((n_spots, n_genes), np.float32)
    for start in range(0, n_spots, CHUNK_SPOTS):
        rows = slice(start, start + CHUNK_SPOTS)
        shape = y_true[rows].shape
        counts = np.floor(-np.log1p(-rng.random(shape, dtype=np.float32)) * rates)  # geometric
        np.log1p(counts, out=y_true[rows])
        noise = rng.standard_normal(shape, dtype=np.float32)
        np.maximum(0.6 * y_true[rows] + 0.5 * noise, 0.0, out=y_pred[rows])
    return y_true, y_pred


@pytest.fixture(scope="module", params=["small", pytest.param("large", marks=pytest.mark.benchmark_large)])
def case(request):
    # A plain ``pytest`` (no -m) would otherwise build 4 GB of arrays.
    if request.param == "large" and "benchmark_large" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("full-size benchmark; select it with -m benchmark_large")
    n_spots, n_genes = _size(request.param)
    y_true, y_pred = expression(n_spots, n_genes)
    detected = os.environ.get("STBENCH_BENCH_DETECTED")
    if detected and request.param == "large":
        y_true[np.random.default_rng(1).random(y_true.shape, dtype=np.float32) >= float(detected)] = 0.0
    case = Case(request.param, y_true, y_pred)
    yield case
    s = case.seconds
    if {"engine", "scipy_loop", "floor", "floor_in_place"} <= set(s):
        print(
            f"\n[{case.name} {n_spots}x{n_genes}] engine: {s['scipy_loop'] / s['engine']:.1f}x faster than "
            f"the scipy loop, {s['engine'] / s['floor']:.1f}x the floor, "
            f"{s['engine'] / s['floor_in_place']:.1f}x the in-place floor"
        )


def _report(benchmark, case: Case, label: str, seconds: float, **extra: float) -> None:
    case.seconds[label] = seconds
    rate = case.spot_genes / seconds
    benchmark.extra_info.update({"seconds": seconds, "spot_genes_per_s": rate, **extra})
    details = "".join(f", {key}={value:.1f}" for key, value in extra.items())
    print(f"\n[{case.name}] {label}: {seconds:.2f} s, {rate:.3g} spot-genes/s{details}")


def _run_engine(y_true: np.ndarray, y_pred: np.ndarray, device: str | None = DEVICE) -> dict[str, float]:
    acc = RegressionAccumulator(y_true.shape[1], ks=KS, device=device)
    for start in range(0, len(y_true), CHUNK_SPOTS):
        acc.update(y_true[start : start + CHUNK_SPOTS], y_pred[start : start + CHUNK_SPOTS])
    return acc.compute()


def _timed(benchmark, fn) -> float:
    """Run ``fn`` once through the benchmark fixture; return its wall time."""
    elapsed = []

    def run():
        start = time.perf_counter()
        fn()
        elapsed.append(time.perf_counter() - start)

    benchmark.pedantic(run, rounds=1, iterations=1)
    return elapsed[-1]


def test_engine(benchmark, case):
    seconds = _timed(benchmark, lambda: _run_engine(case.y_true, case.y_pred))
    tracemalloc.start()
    try:
        metrics = _run_engine(case.y_true, case.y_pred)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    _report(benchmark, case, "engine", seconds, peak_mib_above_inputs=peak / 2**20)
    assert peak < GIB
    assert 0 < metrics["pearson"] < 1 and 0 < metrics["recall_50"] < 1


def _scipy_loop(y_true, y_pred, spots, genes) -> None:
    for i in spots:
        t, p = y_true[i].astype(np.float64), y_pred[i].astype(np.float64)
        np.abs(t - p).mean()
        stats.pearsonr(t, p)
        top_true, top_pred = np.argsort(-t, kind="stable"), np.argsort(-p, kind="stable")
        for k in KS:
            stats.spearmanr(t[top_true[:k]], p[top_true[:k]])
            np.intersect1d(top_true[:k], top_pred[:k]).size / k
    for j in genes:
        stats.pearsonr(y_true[:, j].astype(np.float64), y_pred[:, j].astype(np.float64))


@pytest.mark.filterwarnings("ignore::scipy.stats.ConstantInputWarning")
def test_scipy_loop(benchmark, case):
    n_spots, n_genes = case.y_true.shape
    spots = np.linspace(0, n_spots - 1, min(LOOP_SPOTS, n_spots)).astype(int)
    genes = np.linspace(0, n_genes - 1, min(LOOP_GENES, n_genes)).astype(int)
    spot_seconds = _timed(benchmark, lambda: _scipy_loop(case.y_true, case.y_pred, spots, []))
    start = time.perf_counter()
    _scipy_loop(case.y_true, case.y_pred, [], genes)
    gene_seconds = time.perf_counter() - start
    spot_part = spot_seconds * n_spots / len(spots)
    gene_part = gene_seconds * n_genes / len(genes)
    _report(
        benchmark,
        case,
        "scipy_loop",
        spot_part + gene_part,
        spot_loop_s=spot_part,
        gene_loop_s=gene_part,
        timed_spots=len(spots),
        timed_genes=len(genes),
    )


def test_floor(benchmark, case):
    seconds = _timed(benchmark, lambda: np.abs(case.y_true - case.y_pred).mean())
    _report(benchmark, case, "floor", seconds)


def _floor_in_place(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    buffer = np.empty((CHUNK_SPOTS, y_true.shape[1]), y_true.dtype)
    total = 0.0
    for start in range(0, len(y_true), CHUNK_SPOTS):
        rows = slice(start, start + CHUNK_SPOTS)
        diff = buffer[: len(y_true[rows])]
        np.subtract(y_true[rows], y_pred[rows], out=diff)
        np.abs(diff, out=diff)
        total += float(diff.sum(dtype=np.float64))
    return total / y_true.size


def test_floor_in_place(benchmark, case):
    seconds = _timed(benchmark, lambda: _floor_in_place(case.y_true, case.y_pred))
    _report(benchmark, case, "floor_in_place", seconds)
