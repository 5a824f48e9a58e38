"""The ``stnet`` predictor."""

from __future__ import annotations

from dataclasses import asdict
from typing import Self

import numpy as np
import torch
import torch.nn.functional as F

from baselines.stnet.config import PROFILES, STNetConfig
from baselines.stnet.model import STNetModel, predict_dihedral_mean
from stbench.data.spots import SpotData
from stbench.predictor import Predictor
from stbench.torchkit.data import predict_loader, start_image_fit
from stbench.torchkit.checkpoints import TrainState
from stbench.torchkit.training import check_panel, predict_batches, prepare_model, train_predictor
from stbench.torchkit.validation import regression_validator


class STNetPredictor(Predictor):
    """ST-Net (He et al., 2020): DenseNet-121 + a linear head (zero weight, bias = training mean
    expression), trained with MSE; optional 8-fold dihedral test-time averaging.

    Training: the common recipe of :mod:`stbench.torchkit.training` (early stopping on
    ``val_score`` of the validation predictions, made with the same TTA setting as at test
    time; best epoch restored).
    """

    name = "stnet"
    version = "1.0.0"
    profiles = {name: asdict(cfg) for name, cfg in PROFILES.items()}

    def fit(self, train: SpotData, val: SpotData | None = None) -> Self:
        cfg, device, loader = start_image_fit(self, STNetConfig, train)
        mean = loader.dataset.expression.mean(axis=0)
        model = prepare_model(STNetModel(train.n_genes, cfg, mean), device)
        self.cfg_, self.device_, self.genes_, self.model_ = cfg, device, train.genes, model

        def step(m: STNetModel, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
            images, expression = batch
            return F.mse_loss(m(images).float(), expression)

        validate = None
        if val is not None and val.n_spots:
            validate = regression_validator(
                lambda m: self._predict(m, val), val.expression(), cfg.val_score, floor=mean
            )

        self.state_: TrainState = train_predictor(
            self, model, loader, step, cfg, train=train, val=val, validate=validate, val_score=cfg.val_score
        )
        return self

    def predict(self, data: SpotData) -> np.ndarray:
        check_panel(self.genes_, data)
        return self._predict(self.model_, data)

    def _predict(self, model: STNetModel, data: SpotData) -> np.ndarray:
        """float32 (n_spots, n_genes); ``model`` in eval mode."""
        cfg = self.cfg_
        loader = predict_loader(
            data, image_size=cfg.image_size, preload=cfg.preload, batch_size=cfg.batch_size, device=self.device_,
            colour=cfg.colour,
        )
        fn = (lambda x: predict_dihedral_mean(model, x)) if cfg.tta else model
        return predict_batches(fn, loader, self.device_)
