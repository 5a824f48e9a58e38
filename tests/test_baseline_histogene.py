"""The ``histogene`` baseline: the network, slide-level context, conformance."""

from __future__ import annotations

import numpy as np
import torch

from baselines.histogene import SMALL, HisToGeneNet, HisToGenePredictor
from stbench import SpotData, check_predictor
from stbench.testing import tiny_split


def test_the_untrained_network_predicts_the_training_mean():
    mean = np.array([0.5, 1.5], np.float32)
    net = HisToGeneNet(2, SMALL, mean).eval()
    patches = torch.randint(0, 256, (7, 3 * SMALL.patch_size**2)).float()
    with torch.no_grad():
        out = net(patches, torch.randint(0, SMALL.n_pos, (7, 2)))
    torch.testing.assert_close(out, torch.from_numpy(mean).expand(7, 2))


def test_positions_change_the_prediction_of_a_trained_network():
    torch.manual_seed(0)
    net = HisToGeneNet(2, SMALL, np.zeros(2, np.float32)).eval()
    torch.nn.init.normal_(net.head.weight)
    patches = torch.rand(3, 3 * SMALL.patch_size**2) * 255
    with torch.no_grad():
        a = net(patches, torch.tensor([[0, 0], [2, 0], [4, 0]]))
        b = net(patches, torch.tensor([[0, 0], [2, 0], [4, 2]]))
    assert not torch.allclose(a, b)


def test_a_slide_is_one_sequence_predicted_from_its_own_spots_only():
    train, val, test = tiny_split(0)
    model = HisToGenePredictor("small", epochs=2).fit(train, val)
    together = model.predict(SpotData(test.genes, train.slides[:1] + test.slides).hide_expression())
    alone = model.predict(test.hide_expression())
    np.testing.assert_allclose(together[train.slides[0].n_spots :], alone, rtol=1e-5, atol=1e-5)


def test_positions_past_the_table_share_its_last_row():
    train, val, test = tiny_split(0)
    model = HisToGenePredictor("small", epochs=0, n_pos=2).fit(train, val)
    _, positions = model._slide_inputs(test.slides[0])
    assert int(positions.max()) == 1 and int(positions.min()) == 0


def test_epoch_zero_is_the_mean():
    train, val, test = tiny_split(0)
    model = HisToGenePredictor("small", epochs=0).fit(train, val)
    pred = model.predict(test.hide_expression())
    np.testing.assert_allclose(pred, np.broadcast_to(train.expression().mean(axis=0), pred.shape), atol=1e-5)


def test_histogene_conforms():
    check_predictor(HisToGenePredictor)


def test_registered_from_the_baselines_distribution():
    from stbench import registry

    assert registry.available()["histogene"].distribution == "stbench-baselines"
