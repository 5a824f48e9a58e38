"""The ``uni-mlp`` baseline and the shared training loop."""

from __future__ import annotations

import numpy as np
import pytest

from baselines.uni_mlp import UNIMLPPredictor
from baselines.uni_mlp.training import TrainSettings, make_optimizer
from stbench import check_predictor
from stbench.errors import StbenchError
from stbench.testing import tiny_split


@pytest.fixture(autouse=True)
def _features_root(tmp_path, monkeypatch):
    monkeypatch.setenv("STBENCH_FEATURES", str(tmp_path / "features"))


def test_conforms():
    check_predictor(UNIMLPPredictor)


def test_keeps_the_epoch_with_the_best_validation_mse():
    train, val, test = tiny_split(0)
    model = UNIMLPPredictor("small", epochs=6).fit(train, val)
    history = model.history_
    assert len(history.train_mse) == len(history.val_mse) == 6
    assert history.best_epoch == int(np.argmin(history.val_mse))
    val_pred = model.predict(val.hide_expression())
    assert np.mean((val_pred - val.expression()) ** 2) == pytest.approx(min(history.val_mse), rel=1e-4)


def test_without_validation_keeps_the_last_epoch():
    train, _, _ = tiny_split(0)
    model = UNIMLPPredictor("small", epochs=3).fit(train)
    assert model.history_.best_epoch == 2 and model.history_.val_mse == []


def test_training_lowers_the_loss():
    train, _, _ = tiny_split(0)
    history = UNIMLPPredictor("small", epochs=10).fit(train).history_
    assert history.train_mse[-1] < history.train_mse[0]


def test_paper_profile_is_the_common_protocol():
    cfg = UNIMLPPredictor("paper").get_config()
    assert (cfg["epochs"], cfg["optimizer"], cfg["lr"], cfg["weight_decay"]) == (100, "radam", 1e-4, 1e-4)
    assert cfg["encoder"] == "uni"


def test_unknown_optimizer_is_a_clear_error():
    import torch

    settings = TrainSettings(1, 1, 1e-3, 0.0, "sgd", 0, "cpu")
    with pytest.raises(StbenchError, match="Unknown optimizer 'sgd'"):
        make_optimizer(torch.nn.Linear(1, 1).parameters(), settings)
