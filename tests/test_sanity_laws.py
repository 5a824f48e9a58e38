"""Sanity laws every leaderboard must obey, on ``demo-sparse`` (the statistics of real ST data), with the
``small`` profile on fold 0:

* the oracle (gene2gene) beats every non-oracle model on ``pearson_gene``;
* GenST beats the ``mean`` floor clearly on ``pearson_gene`` (above a shuffled-spot null of its own
  predictions, see NULL_SIGMAS);
* every model with a regression head is at the floor or above it: ``l1`` at most the mean's + 0.005
  and ``pearson`` at least the mean's - 0.01.

A law is asserted only where it held in every run of the seeds x threads sweep of
docs/reproducibility.md (three training seeds, one and two CPU threads), so it holds on any
machine: a trained cell's numbers move with the CPU, the thread count and the seed, and a law that
held in only some runs would be a coin toss on another machine. Where it did not hold in every run
(:data:`FLOOR_UNSTABLE`), and for the retrieval models and linear probes (:data:`REPORTED_ONLY`),
the test reports the numbers in a warning instead. The suite trains at a fixed thread count
(tests/conftest.py), so a run here is one of the sweep's runs.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from stbench.cli import main
from stbench.registry import available
from stbench.results.document import read_result

REGRESSION_HEADS = ("genst", "stnet", "deepspot", "uni-mlp", "triplex", "histogene", "stflow", "stem")
"""Models whose regression head starts at the per-gene training mean (epoch 0 is the floor)."""
REPORTED_ONLY = ("bleep", "clip", "ridge", "hest-probe")
"""Retrieval models (bleep, clip: averages of real training spots) and linear probes (ridge,
hest-probe: near-zero alpha) may sit under the floor: reported, not asserted."""
FLOOR_UNSTABLE: dict[str, tuple[str, ...]] = {
    # triplex: pearson more than 0.01 under the mean's at seed 2 (the sweep, old split); stnet:
    # pearson 0.637 against the mean's 0.653 at seed 0 on the regenerated split (1 and 2 threads)
    "demo-sparse": ("stnet", "triplex"),
    # histogene, stem: L1 0.835 and 0.821 against the floor's 0.820 at seed 2 (the sweep, old split);
    # triplex: L1 0.920 against the floor's 0.910 at seed 0, 1 thread, on the regenerated split
    "stutility-mob": ("histogene", "stem", "triplex"),
}
"""Per cohort, the regression heads whose floor law did not hold in every run of the sweep
(docs/reproducibility.md), or in the seed-0 check on the splits regenerated so that every slide
is tested once: reported, not asserted."""
L1_SLACK = 0.005
PEARSON_SLACK = 0.01
NULL_SHUFFLES = 20
NULL_SIGMAS = 3.0
"""GenST beats the mean *clearly* when its ``pearson_gene`` is above every one of NULL_SHUFFLES
no-information versions of its own predictions (its rows shuffled across the spots of each test
slide, which keeps every predicted value and gene scale but breaks the link to the tissue) and
NULL_SIGMAS standard deviations of that null above the mean's 0. On a 12,000-gene panel most genes carry no image
signal, so a fixed margin would say more about the panel than about the model."""


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


def shuffled_null(results: Path, model: str) -> np.ndarray:
    """``pearson_gene`` of ``model``'s saved fold-0 predictions with rows shuffled within each test slide."""
    from stbench.data.prepared import load_cohort
    from stbench.results.predictions import read_slide_predictions
    from stbench.torchkit.validation import mean_gene_pearson

    (path,) = results.glob(f"*/{model}/fold0.json")
    doc = read_result(path)
    cohort = load_cohort(doc["cohort"]["name"])
    slides = {s.id: s for s in cohort.slides}
    folder = path.parent / "fold0" / doc["predictions"]
    pairs = [(read_slide_predictions(folder, sid).X.astype(np.float32), slides[sid].expression())
             for sid in doc["cohort"]["test_slides"]]
    truth = np.concatenate([t for _, t in pairs])
    rng = np.random.default_rng(0)
    return np.array([
        mean_gene_pearson(np.concatenate([p[rng.permutation(len(p))] for p, _ in pairs]), truth)
        for _ in range(NULL_SHUFFLES)
    ])


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


def check_floor(metrics: dict[str, dict[str, float]], cohort: str) -> None:
    """Assert the floor law for the heads that held it in every sweep run on ``cohort``; report the rest."""
    unstable = FLOOR_UNSTABLE[cohort]
    asserted = tuple(m for m in REGRESSION_HEADS if m not in unstable and m in metrics)
    under = floor_violations(metrics, asserted)
    assert not under, under
    report(metrics, (*unstable, *REPORTED_ONLY), cohort)


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
    null = shuffled_null(tmp_path, "genst")
    genst = metrics["genst"]["pearson_gene"]
    print(f"genst pearson_gene {genst:.4f}; shuffled null {null.mean():.4f} +- {null.std():.4f} (max {null.max():.4f})")
    assert genst > null.max() and genst > NULL_SIGMAS * null.std()
    check_floor(metrics, "demo-sparse")
