"""The leaderboard's tests, against values computed by hand."""

import math

import numpy as np
import pytest

from stbench.report.stats import average_ranks, corrected_ttest, friedman, nemenyi_cd, nemenyi_q, wilcoxon_slides


def test_corrected_ttest_matches_hand_computation():
    # d = -0.01..-0.05: mean -0.03, var (ddof 1) 0.00025; n_test/n_train = 0.25, J = 5
    # t = -0.03 / sqrt((1/5 + 0.25) * 0.00025) = -0.03 / 0.0106066 = -2 sqrt(2)
    res = corrected_ttest(np.array([-0.01, -0.02, -0.03, -0.04, -0.05]), 0.25)
    assert res.statistic == pytest.approx(-2 * math.sqrt(2), rel=1e-12)
    assert res.n == 5
    assert res.p == pytest.approx(0.023710, abs=1e-6)  # Student t, 4 df, P(T <= -2.828)
    # the uncorrected paired t would be -4.243: the correction makes the test more conservative
    plain = -0.03 / math.sqrt(0.00025 / 5)
    assert plain == pytest.approx(-4.2426, abs=1e-4) and res.statistic > plain


def test_corrected_ttest_edge_cases():
    assert corrected_ttest(np.array([0.1]), 0.25).note == "needs at least 2 folds"
    assert math.isnan(corrected_ttest(np.array([0.1]), 0.25).p)
    assert corrected_ttest(np.zeros(5), 0.25).p == 1.0
    assert corrected_ttest(np.full(5, -0.1), 0.25).p == 0.0
    assert corrected_ttest(np.full(5, 0.1), 0.25).p == 1.0
    # a better model is never "significantly worse"
    assert corrected_ttest(np.array([0.01, 0.02, 0.03, 0.04, 0.05]), 0.25).p > 0.9


def test_wilcoxon_one_sided_exact():
    # 6 slides all worse: W+ = 0, exact one-sided p = 1 / 2^6
    res = wilcoxon_slides(np.array([-0.1, -0.2, -0.3, -0.4, -0.5, -0.6]))
    assert res.p == pytest.approx(1 / 64)
    assert wilcoxon_slides(np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])).p == pytest.approx(1.0)
    assert math.isnan(wilcoxon_slides(np.array([])).p)
    assert wilcoxon_slides(np.zeros(4)).p == 1.0


def test_average_ranks_with_ties_and_direction():
    values = np.array([[0.9, 0.9, 0.5], [0.8, 0.7, 0.6]])
    assert average_ranks(values, higher_is_better=True).tolist() == [1.25, 1.75, 3.0]
    assert average_ranks(values, higher_is_better=False).tolist() == [2.75, 2.25, 1.0]


def test_friedman_matches_hand_computation():
    # model 0 best, 2 worst in all 4 blocks: rank sums 4, 8, 12;
    # chi2 = 12 / (N k (k+1)) * sum R^2 - 3 N (k+1) = 0.25 * 224 - 48 = 8, p = exp(-8/2)
    values = np.array([[3.0, 2.0, 1.0], [0.9, 0.5, 0.1], [5.0, 4.0, 3.0], [1.0, 0.8, 0.2]])
    res = friedman(values)
    assert res.statistic == pytest.approx(8.0)
    assert res.p == pytest.approx(math.exp(-4.0))
    assert math.isnan(friedman(values[:, :2]).p)


def test_nemenyi_q_and_cd_match_demsar():
    # Demsar (2006) Table 5(a), q_0.05 for k = 2..10
    table = [1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164]
    for k, q in zip(range(2, 11), table):
        assert nemenyi_q(k) == pytest.approx(q, abs=2e-3)
    # Demsar's worked example: 4 classifiers on 14 data sets, CD = 2.569 sqrt(4 * 5 / (6 * 14)) = 1.25
    assert nemenyi_cd(4, 14) == pytest.approx(1.2536, abs=2e-3)
    assert nemenyi_q(3, 0.10) == pytest.approx(2.052, abs=2e-3)
