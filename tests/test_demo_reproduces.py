"""A fresh run of a few demo cells reproduces the committed reference leaderboard.

`make demo` computes into a fresh `demo-results/`; `leaderboard/results/` is the committed
reference. This reruns `mean` and `stnet` (the fastest image model) on fold 0 with the recorded
profile and seed, and compares every metric both results have.

Tolerances: `mean` is float64 arithmetic on the training expression, deterministic up to the
summation order of the BLAS in use: 1e-6. `stnet` trains a network for a few epochs on CPU;
across machines (CPU instruction set, BLAS, thread count) float32 reductions round differently
and the difference grows through training. Its regression metrics are means over ~600 spots x
~1,000 genes, where such drift stays below 1e-3, while a real change (data, split, panel, seed,
training recipe) moves them by more than 1e-2 (a different seed alone moves stnet's pearson by
~1e-2 on the demo). Clustering metrics are discrete (Leiden labels flip under tiny changes):
0.1, which still catches a broken clustering (the constant `mean` model scores ARI 0, a
working one 0.2-0.5).
"""

from pathlib import Path

import pytest

from stbench.grid import launch as runner
from stbench.metrics import metric_info
from stbench.results.document import read_result, result_path

COMMITTED = Path(__file__).resolve().parents[1] / "leaderboard" / "results"
CELLS = (("mean", 1e-6, 1e-6), ("stnet", 1e-3, 0.1))  # model, regression tolerance, clustering tolerance

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("model", "tol_regression", "tol_clustering"), CELLS)
def test_fresh_run_reproduces_committed_cell(model, tol_regression, tol_clustering, tmp_path):
    committed = read_result(result_path(COMMITTED, "demo", model, 0))
    if committed is None:
        pytest.skip(f"no committed result for demo/{model}/fold0 under {COMMITTED}")
    cfg = runner.RunConfig(
        models=(model,), cohorts=("demo",), folds=(0,), results=tmp_path, profile=committed["model"]["profile"],
        device="cpu", seed=committed["seed"], save_predictions=False,
    )
    outcomes = runner.run(cfg)
    assert [o.status for o in outcomes] == ["done"], [o.message for o in outcomes]
    fresh = read_result(result_path(tmp_path, "demo", model, 0))
    assert fresh["cohort"]["split_sha256"] == committed["cohort"]["split_sha256"]
    # results made by another code version may lack or add metrics: compare the keys both have
    shared = sorted(set(fresh["metrics"]) & set(committed["metrics"]))
    assert "pearson" in shared and "l1" in shared
    off = {}
    for key in shared:
        tol = tol_clustering if metric_info(key).kind == "clustering" else tol_regression
        if abs(fresh["metrics"][key] - committed["metrics"][key]) > tol:
            off[key] = (fresh["metrics"][key], committed["metrics"][key], tol)
    assert not off, f"fresh vs committed (tolerance) differ for demo/{model}/fold0: {off}"
