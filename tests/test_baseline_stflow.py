"""STFlow: neighbour table, frame-averaging invariance, ZINB prior, mean start, conformance."""

from __future__ import annotations

import numpy as np
import torch

from baselines.stflow import STFlowPredictor
from baselines.stflow.model import SpatialAttention, frame_features, knn_table
from baselines.stflow.prior import PriorBank, ZINBPrior
from stbench.check import check_predictor
from stbench.testing import tiny_split


def test_knn_table_lists_each_spot_first_then_its_nearest_others() -> None:
    coords = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [0.0, 0.0]])
    table = knn_table(coords, 3)
    assert table.shape == (4, 3)
    np.testing.assert_array_equal(table[:, 0], np.arange(4))
    assert set(table[0, 1:]) == {1, 3}  # the co-located spot counts as a neighbour
    assert set(table[2, 1:]) == {1, 0} or set(table[2, 1:]) == {1, 3}
    assert knn_table(coords[:1], 16).tolist() == [[0]]


def test_frame_averaged_bias_is_invariant_to_rotation_reflection_and_shift() -> None:
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(30, 2)) * 3
    table = knn_table(coords, 6)
    torch.manual_seed(0)
    attention = SpatialAttention(hidden=8, heads=2, dropout=0.0, attn_dropout=0.0).eval()
    angle = 0.7
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = (coords @ rotation.T) * np.array([1.0, -1.0]) + np.array([5.0, -2.0])
    with torch.no_grad():
        bias = [attention.bias(torch.from_numpy(frame_features(c, table))).mean(dim=1) for c in (coords, moved)]
    torch.testing.assert_close(bias[0], bias[1], rtol=1e-4, atol=1e-5)


def test_zinb_prior_matches_the_zero_fraction_and_draws_log1p_counts() -> None:
    rng = np.random.default_rng(0)
    counts = rng.negative_binomial(2, 0.1, size=(400, 3)) * (rng.random((400, 3)) > np.array([0.2, 0.5, 1.0]))
    prior = ZINBPrior.fit(np.log1p(counts))
    np.testing.assert_allclose(prior.zero, (counts == 0).mean(axis=0), atol=1e-6)
    assert prior.zero[2] == 1.0
    torch.manual_seed(0)
    draws = PriorBank.draw(prior).sample(2000).numpy()
    assert draws.shape == (2000, 3) and (draws >= 0).all()
    assert (draws[:, 2] == 0).all()
    zero_fraction = (draws == 0).mean(axis=0)
    assert zero_fraction[1] >= prior.zero[1] - 0.1 and zero_fraction[0] < zero_fraction[1]


def test_untrained_flow_predicts_the_training_mean() -> None:
    train, val, test = tiny_split(0)
    model = STFlowPredictor("small", epochs=0).fit(train, val)
    pred = model.predict(test.hide_expression())
    mean = train.expression().mean(axis=0)
    np.testing.assert_allclose(pred, np.broadcast_to(mean, pred.shape), atol=1e-5)
    assert model.fit_report["best_epoch"] == 0


def test_stflow_conforms() -> None:
    check_predictor(STFlowPredictor)
