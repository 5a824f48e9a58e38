"""The ``bleep`` predictor: contrastive image/expression embeddings, prediction by retrieval."""

from __future__ import annotations

from dataclasses import asdict
from typing import Self

import numpy as np
import torch

from baselines.bleep.config import PROFILES, BLEEPConfig
from baselines.bleep.model import BLEEPModel, bleep_loss
from baselines.bleep.retrieval_predictor import Embedder, RetrievalPredictor
from stbench.data.spots import SpotData
from stbench.torchkit.data import start_image_fit
from stbench.torchkit.checkpoints import TrainState
from stbench.torchkit.training import (
    prepare_model,
    train_predictor,
)


class BLEEPPredictor(RetrievalPredictor):
    """BLEEP (Xie et al., 2023): image and expression projected into a shared 256-d space by a
    CLIP-style loss with soft targets; a test spot's expression is the mean over the ``top_k``
    training spots whose expression embeddings are most cosine-similar to its image embedding.

    Training: the common recipe of :mod:`stbench.torchkit.training`, early stopping on the
    mean per-gene Pearson of the retrieval prediction on the validation spots.
    """

    name = "bleep"
    version = "1.0.0"
    profiles = {name: asdict(cfg) for name, cfg in PROFILES.items()}

    def fit(self, train: SpotData, val: SpotData | None = None) -> Self:
        cfg, device, loader = start_image_fit(self, BLEEPConfig, train)
        model = prepare_model(BLEEPModel(train.n_genes, cfg), device)
        self.cfg_, self.device_, self.genes_, self.model_ = cfg, device, train.genes, model
        self.reference_values_: np.ndarray = loader.dataset.expression

        def step(m: BLEEPModel, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
            images, expression = batch
            return bleep_loss(m.embed_images(images), m.embed_spots(expression), cfg.temperature)

        self.state_: TrainState = train_predictor(
            self, model, loader, step, cfg, train=train, val=val, validate=self.retrieval_validator(val),
            val_score="pearson_gene",
        )
        self.index_reference(model)
        return self

    def image_embedder(self, model: BLEEPModel) -> Embedder:
        return model.embed_images

    def expression_embedder(self, model: BLEEPModel) -> Embedder:
        return model.embed_spots
