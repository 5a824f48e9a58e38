"""The ``uni-mlp`` baseline and the shared training loop."""

from __future__ import annotations

import numpy as np
import pytest

from baselines.uni_mlp import UNIMLPPredictor
from stbench import check_predictor
from stbench.errors import StbenchError
from stbench.testing import tiny_split
from stbench.torchkit.training import make_optimizer


@pytest.fixture(autouse=True)
def _features_root(tmp_path, monkeypatch):
    monkeypatch.setenv("STBENCH_FEATURES", str(tmp_path / "features"))


def test_conforms():
    check_predictor(UNIMLPPredictor)


def test_keeps_the_epoch_with_the_best_validation_score():
    train, val, test = tiny_split(0)
    model = UNIMLPPredictor("small", epochs=6, patience=100, val_score="mse").fit(train, val)
    report = model.fit_report
    assert report["val_score"] == "mse" and report["epochs_run"] == 6 and report["stopped"] == "max_epochs"
    assert len(report["val_curve"]) == 7  # epoch 0 (the untrained head) and six epochs
    assert report["best_epoch"] == int(np.argmax(report["val_curve"]))
    val_pred = model.predict(val.hide_expression())
    mse = np.mean((val_pred - val.expression()) ** 2)
    assert -mse == pytest.approx(max(report["val_curve"]), rel=1e-4)


def test_without_validation_trains_the_maximum_and_keeps_the_last_epoch():
    train, _, _ = tiny_split(0)
    report = UNIMLPPredictor("small", epochs=3).fit(train).fit_report
    assert (report["best_epoch"], report["epochs_run"], report["stopped"]) == (3, 3, "no_validation")
    assert report["val_curve"] == [] and report["val_score"] is None


def test_training_lowers_the_loss():
    train, _, _ = tiny_split(0)
    curve = UNIMLPPredictor("small", epochs=10).fit(train).fit_report["loss_curve"]
    assert curve[-1] < curve[0]


def test_untrained_head_predicts_the_training_mean():
    train, _, test = tiny_split(0)
    model = UNIMLPPredictor("small", epochs=0).fit(train)
    pred = model.predict(test.hide_expression())
    np.testing.assert_allclose(pred, np.broadcast_to(train.expression().mean(axis=0), pred.shape), atol=1e-5)


def test_paper_profile_is_the_common_protocol():
    cfg = UNIMLPPredictor("paper").get_config()
    assert (cfg["epochs"], cfg["optimizer"], cfg["lr"], cfg["weight_decay"]) == (100, "radam", 1e-4, 1e-4)
    assert cfg["encoder"] == "uni"


def test_unknown_optimizer_is_a_clear_error():
    import torch

    with pytest.raises(StbenchError, match="Unknown optimizer 'sgd'"):
        make_optimizer(torch.nn.Linear(1, 1).parameters(), "sgd", lr=1e-3, weight_decay=0.0)
