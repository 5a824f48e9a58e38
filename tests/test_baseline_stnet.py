"""ST-Net: head initialisation, dihedral test-time averaging, conformance."""

from __future__ import annotations

import numpy as np
import torch

from baselines.stnet import SMALL, STNetModel, STNetPredictor, dihedral, predict_dihedral_mean
from stbench.check import check_predictor


def test_head_starts_at_zero_weight_and_mean_bias() -> None:
    mean = np.array([0.5, 1.5, 2.5], np.float32)
    model = STNetModel(3, SMALL, mean).eval()
    assert torch.count_nonzero(model.head.weight) == 0
    torch.testing.assert_close(model.head.bias, torch.from_numpy(mean))
    with torch.no_grad():
        out = model(torch.randn(4, 3, 32, 32))
    torch.testing.assert_close(out, torch.from_numpy(mean).expand(4, 3))


def test_the_eight_dihedral_transforms_are_distinct_and_invertible() -> None:
    image = torch.arange(9.0).view(1, 1, 3, 3)
    views = [dihedral(image, i) for i in range(8)]
    assert len({tuple(v.flatten().tolist()) for v in views}) == 8
    for i in range(8):  # rotations compose; the group is closed
        assert any(torch.equal(dihedral(views[i], j), image) for j in range(8))


def test_tta_is_the_mean_over_the_dihedral_views_and_rotation_invariant() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.Flatten(), torch.nn.LazyLinear(4)).eval()
    images = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        out = predict_dihedral_mean(model, images)
        manual = sum(model(dihedral(images, i)) for i in range(8)) / 8
        rotated = predict_dihedral_mean(model, torch.rot90(images, 1, dims=(-2, -1)))
    torch.testing.assert_close(out, manual)
    torch.testing.assert_close(rotated, out, rtol=1e-5, atol=1e-5)


def test_stnet_conforms() -> None:
    check_predictor(STNetPredictor)


def test_stnet_with_tta_conforms() -> None:
    check_predictor(STNetPredictor, tta=True)


def test_untrained_model_predicts_the_training_mean() -> None:
    from stbench.testing import tiny_split

    train, val, test = tiny_split(0)
    mean = train.expression().mean(axis=0)
    model = STNetPredictor("small", epochs=0).fit(train, val)  # small selects on validation MSE
    pred = model.predict(test.hide_expression())
    np.testing.assert_allclose(pred, np.broadcast_to(mean, pred.shape), atol=1e-5)
    mean_mse = float(np.mean((val.expression().astype(np.float64) - mean) ** 2))
    assert model.fit_report["best_epoch"] == 0 and model.fit_report["val_score"] == "mse"
    np.testing.assert_allclose(model.fit_report["val_curve"], [-mean_mse], rtol=1e-4)
    on_pearson = STNetPredictor("small", epochs=0, val_score="pearson_gene").fit(train, val)
    assert on_pearson.fit_report["val_curve"] == [0.0]
