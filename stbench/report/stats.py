"""Significance tests of the leaderboard (scipy.stats underneath).

Within a cohort and a metric, each model is compared with the best non-oracle model:

* :func:`corrected_ttest`: Nadeau & Bengio's (2003) corrected resampled t-test over folds. The
  folds' training sets overlap, so the fold differences are correlated and the plain paired
  t-test is anti-conservative; the correction inflates the variance of the mean difference from
  ``s^2 / J`` to ``(1 / J + n_test / n_train) * s^2``.
* :func:`wilcoxon_slides`: the Wilcoxon signed-rank test over per-test-slide differences, one
  per slide (model A and B on the same slide; the caller averages a slide tested in several folds
  over those folds, :func:`stbench.report.collect.paired_slide_values`, so slides stay the
  independent units the test assumes).

Both are one-sided: the alternative is "this model is worse than the best". Differences are
oriented so that positive means better (``-value`` for lower-is-better metrics).

Across cohorts (Demsar 2006): :func:`average_ranks`, :func:`friedman` and the Nemenyi critical
difference :func:`nemenyi_cd`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class TestResult:
    """One test's outcome: ``statistic`` and one-sided ``p`` (``nan`` when not computable, with ``note``)."""

    statistic: float
    p: float
    n: int
    note: str = ""


def corrected_ttest(diff: np.ndarray, test_train_ratio: float) -> TestResult:
    """Nadeau-Bengio corrected resampled t-test that ``diff`` (model minus best, oriented so
    positive is better; one value per fold) has a negative mean.

    ``t = mean(d) / sqrt((1 / J + n_test / n_train) * var(d, ddof=1))`` with ``J - 1`` degrees
    of freedom; ``p = P(T <= t)``. ``test_train_ratio`` is ``n_test / n_train`` in slides, the
    folds' own counts (mean over the folds of ``diff``; the training set counts the validation
    slides), not an assumed constant.
    All-equal differences: ``p = 1`` when they are 0 and ``0`` (< 0) or ``1`` (> 0) otherwise.
    """
    d = np.asarray(diff, dtype=float)
    d = d[np.isfinite(d)]
    j = d.size
    if j < 2:
        return TestResult(math.nan, math.nan, j, "needs at least 2 folds")
    mean = float(d.mean())
    var = float(d.var(ddof=1))
    if var == 0.0:
        if mean == 0.0:
            return TestResult(0.0, 1.0, j, "identical on every fold")
        return TestResult(math.copysign(math.inf, mean), 0.0 if mean < 0 else 1.0, j, "constant difference")
    t = mean / math.sqrt((1.0 / j + test_train_ratio) * var)
    return TestResult(t, float(stats.t.cdf(t, df=j - 1)), j)


def wilcoxon_slides(diff: np.ndarray) -> TestResult:
    """One-sided Wilcoxon signed-rank test that the per-slide differences (model minus best,
    positive is better) are centred below 0; zero differences are dropped (``zero_method="wilcox"``),
    the exact null distribution is used for small samples (scipy's default)."""
    d = np.asarray(diff, dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return TestResult(math.nan, math.nan, 0, "no per-slide values")
    if not np.any(d):
        return TestResult(0.0, 1.0, d.size, "identical on every slide")
    res = stats.wilcoxon(d, alternative="less", zero_method="wilcox")
    return TestResult(float(res.statistic), float(res.pvalue), d.size)


def average_ranks(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Ranks of the models (columns) within each block (rows), 1 = best, ties get their mean
    rank; returns the mean rank of each model over blocks, shape (models,)."""
    v = np.asarray(values, dtype=float)
    oriented = -v if higher_is_better else v
    ranks = np.vstack([stats.rankdata(row) for row in oriented])
    return ranks.mean(axis=0)


def friedman(values: np.ndarray) -> TestResult:
    """Friedman's test that all models (columns) rank equally over the blocks (rows)."""
    v = np.asarray(values, dtype=float)
    n, k = v.shape
    if k < 3 or n < 2:
        return TestResult(math.nan, math.nan, n, "needs at least 3 models and 2 blocks")
    if np.all(v == v[:, :1]):
        return TestResult(0.0, 1.0, n, "all models equal in every block")
    res = stats.friedmanchisquare(*v.T)
    return TestResult(float(res.statistic), float(res.pvalue), n)


def nemenyi_q(k: int, alpha: float = 0.05) -> float:
    """Demsar's (2006) ``q_alpha`` for ``k`` models: the studentized range quantile / sqrt(2)."""
    return float(stats.studentized_range.ppf(1.0 - alpha, k, np.inf) / math.sqrt(2.0))


def nemenyi_cd(k: int, n: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference of average ranks: ``q_alpha * sqrt(k (k + 1) / (6 n))`` for
    ``k`` models compared over ``n`` blocks."""
    return nemenyi_q(k, alpha) * math.sqrt(k * (k + 1) / (6.0 * n))
