"""The regression engine's time as a multiple of the memory-bandwidth floor, dense and sparse.

Prints, for 20,000 spots x 5,000 genes float32 by default, the median over ``--repeats``
interleaved runs of

* ``floor``: ``np.abs(a - b).mean()`` on the arrays;
* ``engine``: :class:`stbench.metrics.RegressionAccumulator` fed 4,096 spots at a time, then
  ``compute()`` (every regression metric, default ks);

for three pairs of arrays, all measured in this one process (floor and engine alternate, so
machine load hits both alike). Each is timed in CPU seconds of this process (the figure to
compare on a shared machine, where waiting for a core inflates wall time, and the engine's more
than the memory-bound floor's) and in wall seconds; the ratio of each is printed.

* ``dense``: the count-like truth of ``tests/benchmarks/test_bench_metrics.py`` (about a
  quarter non-zero) and its noisy, clipped prediction (about half non-zero);
* ``sparse``: the same truth with non-zero values kept at random so that 2% of the values are
  non-zero, and the same kind of prediction made from it (about half non-zero);
* ``sparse-both``: that truth, and the dense prediction thinned the same way (2% non-zero on
  both sides: ties everywhere).

Usage: ``python scripts/bench_metric_engine.py [--spots N] [--genes N] [--repeats N]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from stbench.metrics import RegressionAccumulator
from tests.benchmarks.test_bench_metrics import CHUNK_SPOTS, expression

NON_ZERO = 0.02


def thinned(x: np.ndarray, share: float, seed: int) -> np.ndarray:
    """A copy of ``x`` with its non-zero values kept at random so that ``share`` of all
    values are non-zero (in expectation)."""
    keep = share / max(np.count_nonzero(x) / x.size, share)
    out = x.copy()
    out[np.random.default_rng(seed).random(x.shape, dtype=np.float32) >= keep] = 0.0
    return out


def cases(n_spots: int, n_genes: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The three (truth, prediction) pairs of the module docstring."""
    y_true, y_pred = expression(n_spots, n_genes)
    sparse_true = thinned(y_true, NON_ZERO, seed=1)
    noise = np.random.default_rng(2).standard_normal(y_true.shape, dtype=np.float32)
    sparse_pred = np.maximum(0.6 * sparse_true + 0.5 * noise, 0.0)
    return {
        "dense": (y_true, y_pred),
        "sparse": (sparse_true, sparse_pred),
        "sparse-both": (sparse_true, thinned(y_pred, NON_ZERO, seed=3)),
    }


def engine(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    acc = RegressionAccumulator(y_true.shape[1])
    for start in range(0, len(y_true), CHUNK_SPOTS):
        acc.update(y_true[start : start + CHUNK_SPOTS], y_pred[start : start + CHUNK_SPOTS])
    return acc.compute()


def seconds(fn) -> tuple[float, float]:
    """(CPU seconds of this process, wall seconds) that ``fn()`` takes."""
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spots", type=int, default=20_000)
    parser.add_argument("--genes", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", choices=["dense", "sparse", "sparse-both"], action="append")
    args = parser.parse_args()
    pairs = cases(args.spots, args.genes)
    names = args.only or list(pairs)
    times: dict[tuple[str, str], list[tuple[float, float]]] = {(n, w): [] for n in names for w in ("floor", "engine")}
    for _ in range(args.repeats):
        for name in names:
            y_true, y_pred = pairs[name]
            times[name, "floor"].append(seconds(lambda: np.abs(y_true - y_pred).mean()))
            times[name, "engine"].append(seconds(lambda: engine(y_true, y_pred)))
    print(f"{args.spots} x {args.genes} float32, median of {args.repeats} interleaved runs")
    for name in names:
        y_true, y_pred = pairs[name]
        floor_cpu, floor_wall = (statistics.median(t) for t in zip(*times[name, "floor"]))
        run_cpu, run_wall = (statistics.median(t) for t in zip(*times[name, "engine"]))
        print(
            f"{name:12s} non-zero {np.count_nonzero(y_true) / y_true.size:5.1%} / "
            f"{np.count_nonzero(y_pred) / y_pred.size:5.1%}: CPU engine {run_cpu:6.2f} s, floor {floor_cpu:5.3f} s, "
            f"ratio {run_cpu / floor_cpu:5.1f}x | wall engine {run_wall:6.2f} s, floor {floor_wall:5.3f} s, "
            f"ratio {run_wall / floor_wall:5.1f}x"
        )


if __name__ == "__main__":
    main()
