"""The ``clip`` predictor."""

from __future__ import annotations

from dataclasses import asdict
from typing import Self

import numpy as np
import torch

from baselines.bleep.retrieval_predictor import Embedder, RetrievalPredictor
from baselines.clip.config import PROFILES, CLIPConfig
from baselines.clip.model import CLIPModel, info_nce
from genst.losses import mse
from stbench.data.spots import SpotData
from stbench.torchkit.data import start_image_fit
from stbench.torchkit.checkpoints import TrainState
from stbench.torchkit.training import (
    prepare_model,
    train_predictor,
)


class CLIPPredictor(RetrievalPredictor):
    """CLIP alignment of GenST's autoencoders (as the GenST paper's CLIP baseline, after
    mclSTExp): L = L_i + L_g + InfoNCE(c_i, c_g), with GenST's cross-modal terms (L_cm,
    L_align, L_coef) removed.

    Inference is retrieval, as in mclSTExp: a test spot's expression is the mean over the
    ``top_k`` training spots whose gene coefficients c_g are most cosine-similar to its image
    coefficients c_i. (Decoding D_g(B_g c_i) as GenST does is not an option here: InfoNCE
    aligns only the directions of c_i and c_g, and nothing trains the gene decoder on
    image-derived latents.) Training: the common recipe of :mod:`stbench.torchkit.training`,
    early stopping on ``val_score`` of the retrieval prediction on the validation spots.
    """

    name = "clip"
    version = "1.0.0"
    profiles = {name: asdict(cfg) for name, cfg in PROFILES.items()}

    def fit(self, train: SpotData, val: SpotData | None = None) -> Self:
        cfg, device, loader = start_image_fit(self, CLIPConfig, train)
        model = CLIPModel(train.n_genes, cfg)
        model.gene.init_output_bias(loader.dataset.expression.mean(axis=0))
        prepare_model(model, device)
        self.cfg_, self.device_, self.genes_, self.model_ = cfg, device, train.genes, model
        self.reference_values_: np.ndarray = loader.dataset.expression

        def step(m: CLIPModel, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
            images, expression = batch
            image, gene = m(images, expression)
            return (
                mse(image.reconstruction, images)
                + mse(gene.reconstruction, expression)
                + cfg.w_clip * info_nce(image.coefficients, gene.coefficients, cfg.temperature)
                + image.vq_loss
                + gene.vq_loss
            )

        self.state_: TrainState = train_predictor(
            self, model, loader, step, cfg, train=train, val=val, validate=self.retrieval_validator(val, cfg.val_score),
            val_score=cfg.val_score,
        )
        self.index_reference(model)
        return self

    def image_embedder(self, model: CLIPModel) -> Embedder:
        return model.image.encode

    def expression_embedder(self, model: CLIPModel) -> Embedder:
        return model.gene.encode
