"""The ``bleep`` predictor: contrastive image/expression embeddings, prediction by retrieval."""

from __future__ import annotations

from dataclasses import asdict
from typing import Self

import numpy as np
import torch

from baselines.bleep.config import PROFILES, BLEEPConfig
from baselines.bleep.model import BLEEPModel, bleep_loss
from baselines.bleep.retrieval import retrieve_mean
from stbench.data.spots import SpotData
from stbench.predictor import Predictor
from stbench.torchkit.data import predict_loader, train_loader
from stbench.torchkit.training import (
    TrainState,
    array_batches,
    check_panel,
    config_from,
    mean_gene_pearson,
    predict_batches,
    prepare_model,
    resolve_device,
    seed_everything,
    train_predictor,
)


class BLEEPPredictor(Predictor):
    """BLEEP (Xie et al., 2023): image and expression projected into a shared 256-d space by a
    CLIP-style loss with soft targets; a test spot's expression is the mean over the ``top_k``
    training spots whose expression embeddings are most cosine-similar to its image embedding.

    Model selection: the epoch with the best validation mean per-gene Pearson of the
    retrieval prediction.
    """

    name = "bleep"
    version = "1.0.0"
    profiles = {name: asdict(cfg) for name, cfg in PROFILES.items()}

    def fit(self, train: SpotData, val: SpotData | None = None) -> Self:
        cfg = config_from(BLEEPConfig, self.config)
        device = resolve_device(self.device)
        seed_everything(self.seed)
        loader = train_loader(
            train,
            image_size=cfg.image_size,
            augment=cfg.augment,
            preload=cfg.preload,
            batch_size=cfg.batch_size,
            device=device,
        )
        model = prepare_model(BLEEPModel(train.n_genes, cfg), device)
        self.cfg_, self.device_, self.genes_, self.model_ = cfg, device, train.genes, model
        self.reference_values_: np.ndarray = loader.dataset.expression

        def step(m: BLEEPModel, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
            images, expression = batch
            return bleep_loss(m.embed_images(images), m.embed_spots(expression), cfg.temperature)

        validate = None
        if val is not None and val.n_spots:
            truth = val.expression()

            def validate(m: BLEEPModel) -> float:
                self.reference_ = self._embed_reference(m)
                return mean_gene_pearson(self._predict(m, val), truth)

        self.state_: TrainState = train_predictor(
            self, model, loader, step, cfg, train=train, val=val, validate=validate
        )
        self.reference_ = self._embed_reference(model)
        return self

    def predict(self, data: SpotData) -> np.ndarray:
        check_panel(self.genes_, data)
        return self._predict(self.model_, data)

    def _embed_reference(self, model: BLEEPModel) -> torch.Tensor:
        """Expression embeddings of every training spot: (n_train, P) on the model's device."""
        batches = array_batches(self.reference_values_, self.cfg_.batch_size)
        embeddings = predict_batches(model.embed_spots, batches, self.device_)
        return torch.from_numpy(embeddings).to(self.device_)

    def _predict(self, model: BLEEPModel, data: SpotData) -> np.ndarray:
        """Retrieval prediction: float32 (n_spots, n_genes); ``model`` in eval mode."""
        cfg = self.cfg_
        loader = predict_loader(
            data, image_size=cfg.image_size, preload=cfg.preload, batch_size=cfg.batch_size, device=self.device_
        )
        queries = torch.from_numpy(predict_batches(model.embed_images, loader, self.device_)).to(self.device_)
        return retrieve_mean(queries, self.reference_, self.reference_values_, cfg.top_k)
