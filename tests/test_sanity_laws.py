"""Sanity laws every leaderboard must obey, on ``demo-sparse`` (the statistics of real ST data), with the
``small`` profile on fold 0:

* the oracle (gene2gene) beats every non-oracle model on ``pearson_gene``;
* GenST beats the ``mean`` floor clearly on ``pearson_gene``;
* every model with a regression head (genst, stnet, deepspot, uni-mlp) is at the floor or above it:
  ``l1`` at most the mean's + 0.005 and ``pearson`` at least the mean's - 0.01.

Retrieval models (bleep, clip average real training spots) and HEST's ridge probe (near-zero alpha)
may sit a little under the floor: they are reported (a warning naming them), not asserted.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from stbench.cli import main
from stbench.registry import available
from stbench.results import read_result

REGRESSION_HEADS = ("genst", "stnet", "deepspot", "uni-mlp")
REPORTED_ONLY = ("bleep", "clip", "ridge")
L1_SLACK = 0.005
PEARSON_SLACK = 0.01
GENST_MARGIN = 0.02
"""How far above the mean's 0 GenST's ``pearson_gene`` must be to count as beating it clearly."""


def run_all_models(cohort: str, results: Path) -> dict[str, dict[str, float]]:
    """``stbench run --model all --cohort COHORT --folds 0 --profile small``; model -> fold-0 metrics.

    Asserts that the run succeeded and that every registered model wrote a result.
    """
    argv = ["run", "--model", "all", "--cohort", cohort, "--folds", "0", "--profile", "small"]
    assert main([*argv, "--device", "cpu", "--results", str(results)]) == 0
    metrics = {}
    for name in available():
        docs = [read_result(p) for p in results.glob(f"*/{name}/fold0.json")]
        assert len(docs) == 1 and docs[0] is not None, f"{name} wrote no fold-0 result"
        metrics[name] = docs[0]["metrics"]
    return metrics


def floor_violations(metrics: dict[str, dict[str, float]], models: tuple[str, ...]) -> list[str]:
    """The models among ``models`` under the mean floor, each with its numbers (empty when all hold)."""
    floor = metrics["mean"]
    out = []
    for name in models:
        m = metrics[name]
        if m["l1"] > floor["l1"] + L1_SLACK or m["pearson"] < floor["pearson"] - PEARSON_SLACK:
            out.append(
                f"{name}: l1 {m['l1']:.4f} (mean {floor['l1']:.4f}), pearson {m['pearson']:.4f} "
                f"(mean {floor['pearson']:.4f})"
            )
    return out


def report(metrics: dict[str, dict[str, float]], models: tuple[str, ...], cohort: str) -> None:
    """Warn (visible in the test summary) about reported-only models under the floor."""
    under = floor_violations(metrics, tuple(m for m in models if m in metrics))
    if under:
        warnings.warn(f"{cohort}: under the mean floor (reported, not asserted): " + "; ".join(under), stacklevel=2)


@pytest.mark.slow
def test_sanity_laws_on_demo_sparse(tmp_path: Path) -> None:
    metrics = run_all_models("demo-sparse", tmp_path)
    table = "\n".join(
        f"{name:10s} pearson_gene {m['pearson_gene']:.4f}  pearson {m['pearson']:.4f}  l1 {m['l1']:.4f}"
        for name, m in metrics.items()
    )
    print(table)  # shown with -s, and by pytest when the test fails
    oracle = metrics["gene2gene"]["pearson_gene"]
    beaten = {n: m["pearson_gene"] for n, m in metrics.items() if n != "gene2gene" and m["pearson_gene"] >= oracle}
    assert not beaten, f"the oracle's pearson_gene {oracle:.4f} is not above {beaten}"
    assert metrics["mean"]["pearson_gene"] == 0.0
    assert metrics["genst"]["pearson_gene"] > GENST_MARGIN
    assert not floor_violations(metrics, REGRESSION_HEADS)
    report(metrics, REPORTED_ONLY, "demo-sparse")
