"""``uni-mlp``: an MLP on frozen UNI features of the spot patch."""

from __future__ import annotations

from typing import Any, Self

import numpy as np

from baselines.encoders import EXTRACTION_DEFAULTS, spot_features
from baselines.uni_mlp.training import fit_head, predict_rows
from stbench import Predictor, SpotData


class UNIMLPPredictor(Predictor):
    """Frozen encoder features of each spot (``spot`` view, float32 (n, dim)) -> MLP -> expression.

    Architecture (the GenST paper names the model but not its layout; our choice):
    ``Linear(dim, hidden) -> ReLU -> Dropout(dropout) -> Linear(hidden, n_genes)``, raw
    (unscaled) features in, log1p expression out, MSE loss. The output layer starts at weight 0
    and bias = the training mean (the untrained model is the ``mean`` baseline). Training: the
    common recipe (:mod:`stbench.torchkit.training`): early stopping on ``val_score``, best
    epoch restored.

    Profiles:

    * ``paper`` -- UNI (1024-d), hidden 512, dropout 0.1, at most 100 epochs (patience 10),
      RAdam lr 1e-4, weight decay 1e-4 (the GenST paper's common protocol, section 4.2); batch
      256 (not stated). Budget: one GPU; UNI features dominate (computed once, cached).
    * ``small`` -- the random-weight CPU stand-in ``uni-small-random`` (96-d), hidden 128, at
      most 40 epochs (patience 4), lr 1e-3, batch 64. Budget: 2 CPU cores, about a minute per
      fold on ~1,000 training spots x ~14,000 genes once features are cached.

    Settings: ``encoder`` (a name of ``stbench encoders``), ``hidden``, ``dropout``,
    ``epochs`` (maximum), ``patience``, ``val_score`` (``pearson_gene`` | ``mse``),
    ``batch_size``, ``lr``, ``weight_decay``, ``optimizer`` (``radam`` | ``adamw``),
    and the extraction settings ``feature_batch_size``, ``feature_bf16``, ``feature_workers``
    (:mod:`baselines.encoders`).
    """

    name = "uni-mlp"
    version = "1.0.0"
    profiles = {
        "small": {
            "encoder": "uni-small-random",
            "hidden": 128,
            "dropout": 0.1,
            "epochs": 40,
            "patience": 4,
            "val_score": "pearson_gene",
            "batch_size": 64,
            "lr": 1e-3,
            "weight_decay": 1e-4,
            "optimizer": "radam",
            "feature_batch_size": 256,
            **EXTRACTION_DEFAULTS,
        },
        "paper": {
            "encoder": "uni",
            "hidden": 512,
            "dropout": 0.1,
            "epochs": 100,
            "patience": 10,
            "val_score": "pearson_gene",
            "batch_size": 256,
            "lr": 1e-4,
            "weight_decay": 1e-4,
            "optimizer": "radam",
            "feature_batch_size": 128,
            **EXTRACTION_DEFAULTS,
        },
    }

    def fit(self, train: SpotData, val: SpotData | None = None) -> Self:
        import torch

        cfg = self.config
        x_train = torch.from_numpy(spot_features(self, train)).to(self.device)
        train_y = train.expression()
        val_inputs, val_y = None, None
        if val is not None and val.n_spots > 0:
            x_val = torch.from_numpy(spot_features(self, val)).to(self.device)
            val_inputs, val_y = _row_inputs(x_val, self.device), val.expression()
        self.model_ = fit_head(
            self,
            lambda: _mlp(x_train.shape[1], cfg["hidden"], train.n_genes, cfg["dropout"]),
            _row_inputs(x_train, self.device),
            train_y,
            train=train,
            val=val,
            val_inputs=val_inputs,
            val_y=val_y,
        )
        return self

    def predict(self, data: SpotData) -> np.ndarray:
        import torch

        x = torch.from_numpy(spot_features(self, data)).to(self.device)
        return predict_rows(
            self.model_, _row_inputs(x, self.device), data.n_spots, data.n_genes, self.config["batch_size"]
        )


def _row_inputs(x: Any, device: str) -> Any:
    """Row indices -> (features of those rows,) from the on-device float32 (n, dim) tensor ``x``."""
    import torch

    return lambda rows: (x[torch.from_numpy(rows).to(device)],)


def _mlp(dim: int, hidden: int, n_genes: int, dropout: float) -> Any:
    """Linear(dim, hidden) -> ReLU -> Dropout -> Linear(hidden, n_genes)."""
    from torch import nn

    return nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_genes))
