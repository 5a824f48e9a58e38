"""The leaderboard's significance analysis: each model against the row's best, ranks across cohorts.

Conventions (docs/leaderboard.md, "Significance", explains each test and what it assumes):

* the best model of a (cohort, metric) row is the non-oracle model with the best mean over folds;
* every value is first averaged over its seeds (a fold's seeds; a slide's seeds within a fold):
  seeds are repeated measurements of one fold, not further samples;
* each other non-oracle model is compared with it by the Nadeau-Bengio corrected resampled
  t-test over the folds both have, with the ratio n_test / n_train of those folds' own slide
  counts, and by the Wilcoxon signed-rank test over the test slides both have, one value per
  slide (:func:`~stbench.report.collect.paired_slide_values`: a slide tested in several folds is
  averaged over the folds both models tested it in), one-sided (H1: the model is worse), at
  ``ALPHA``, without multiplicity correction;
* a model is "not significantly worse" (marked ≈) when no test that could be computed rejects;
  a model for which neither test could be computed is not marked;
* oracles and the paper's reported values are never tested or ranked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stbench.metrics import metric_info
from stbench.report.collect import Board, paired_slide_values
from stbench.report.stats import TestResult, average_ranks, corrected_ttest, friedman, nemenyi_cd, wilcoxon_slides

ALPHA = 0.05


@dataclass(frozen=True)
class Comparison:
    """One model against the best of its row; ``not_worse`` is the ≈ mark (``None``: untested)."""

    cohort: str
    metric: str
    model: str
    best: str
    ttest: TestResult
    wilcoxon: TestResult

    @property
    def not_worse(self) -> bool | None:
        ps = [t.p for t in (self.ttest, self.wilcoxon) if not math.isnan(t.p)]
        if not ps:
            return None
        return all(p >= ALPHA for p in ps)


def _sign(metric: str) -> float:
    return 1.0 if metric_info(metric).higher_is_better else -1.0


def best_model(board: Board, cohort: str, metric: str) -> str | None:
    """The non-oracle model with the best mean over folds (first in column order on ties)."""
    scored = [(m, s.mean) for m in board.plain if (s := board.stats(cohort, m, metric)) is not None]
    if not scored:
        return None
    sign = _sign(metric)
    return max(scored, key=lambda ms: sign * ms[1])[0]


def test_train_ratio(board: Board, cohort: str, folds: list[int]) -> float | None:
    """Mean over ``folds`` of n_test / n_train slides (:meth:`Board.fold_sizes`), the
    Nadeau-Bengio correction; ``None`` when a fold's sizes are not recorded."""
    sizes = board.fold_sizes(cohort)
    if not folds or any(f not in sizes for f in folds):
        return None
    return float(np.mean([sizes[f][0] / sizes[f][1] for f in folds]))


def fold_test(board: Board, cohort: str, model: str, best: str, metric: str) -> TestResult:
    """The corrected t-test of ``model`` against ``best`` over the folds both have (seed means)."""
    sign = _sign(metric)
    folds, best_folds = board.fold_values(cohort, model, metric), board.fold_values(cohort, best, metric)
    common = sorted(set(folds) & set(best_folds))
    ratio = test_train_ratio(board, cohort, common)
    if ratio is None:
        return TestResult(math.nan, math.nan, len(common), "train/test sizes of the folds not recorded")
    return corrected_ttest(np.array([sign * (folds[f] - best_folds[f]) for f in common]), ratio)


def slide_test(board: Board, cohort: str, model: str, best: str, metric: str) -> TestResult:
    """The Wilcoxon test of ``model`` against ``best`` over their paired test slides."""
    _, values = paired_slide_values([board.slide_values(cohort, model, metric), board.slide_values(cohort, best, metric)])
    return wilcoxon_slides(_sign(metric) * (values[:, 0] - values[:, 1]) if values.size else np.array([]))


def compare(board: Board, cohort: str, metric: str) -> dict[str, Comparison]:
    """model -> its :class:`Comparison` with the row's best (the best itself is absent)."""
    best = best_model(board, cohort, metric)
    if best is None:
        return {}
    return {
        model: Comparison(cohort, metric, model, best, fold_test(board, cohort, model, best, metric),
                          slide_test(board, cohort, model, best, metric))
        for model in board.plain
        if model != best and board.stats(cohort, model, metric) is not None
    }


@dataclass(frozen=True)
class RankAnalysis:
    """Average ranks of the non-oracle models over blocks, Friedman's test and Nemenyi's CD.

    ``blocks`` says what a block is: the cohorts when at least two cohorts have every model,
    else the test slides of the one cohort (not independent: read it as descriptive).
    """

    metric: str
    models: list[str]
    ranks: np.ndarray
    n_blocks: int
    blocks: str
    friedman: TestResult
    cd: float


def rank_analysis(board: Board, metric: str) -> RankAnalysis | None:
    """Demsar's (2006) across-cohort comparison for ``metric``; ``None`` with under 2 models."""
    info = metric_info(metric)
    models = [m for m in board.plain if all(board.stats(c, m, metric) for c in board.cohorts)]
    cohorts = board.cohorts
    if len(models) < 2:
        return None
    if len(cohorts) >= 2:
        values = np.array([[board.stats(c, m, metric).mean for m in models] for c in cohorts])
        blocks = f"{len(cohorts)} cohorts (mean over folds)"
    else:
        slides, values = paired_slide_values([board.slide_values(cohorts[0], m, metric) for m in models])
        if len(slides) < 2:
            return None
        blocks = f"{len(slides)} test slides of {cohorts[0]} (one cohort: blocks are not independent)"
    ranks = average_ranks(values, info.higher_is_better)
    return RankAnalysis(
        metric, models, ranks, values.shape[0], blocks, friedman(values), nemenyi_cd(len(models), values.shape[0], ALPHA)
    )
