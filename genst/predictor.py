"""The ``genst`` and ``gene2gene`` predictors."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Self

import numpy as np
import torch
from torch.utils.data import TensorDataset

from genst.artefacts import safe_filename, write_codebook_csv, write_reconstruction_grid
from genst.config import PROFILES, GeneBranchConfig, GenSTConfig
from genst.losses import genst_loss, genst_loss_terms, mse
from genst.modules import GeneAutoencoder, GenSTModel
from stbench.data.spots import SpotData
from stbench.predictor import Predictor
from stbench.torchkit.data import predict_dataset, predict_loader, start_image_fit
from stbench.torchkit.checkpoints import TrainState
from stbench.torchkit.training import (
    array_batches,
    check_panel,
    config_from,
    make_loader,
    predict_batches,
    prepare_model,
    resolve_device,
    seed_everything,
    train_predictor,
)
from stbench.torchkit.validation import regression_validator


class GenSTPredictor(Predictor):
    """GenST (Wood et al., COMPAYL 2025): a bimodal dictionary autoencoder; expression is
    predicted from the image alone as D_g(B_g c_i).

    Fit trains both branches with L = L_i + L_g + L_cm + 0.1 L_align + 0.1 L_coef (+ L_vq with
    ``coefficients="vq"``) under the common recipe of :mod:`stbench.torchkit.training`: early
    stopping on the validation score ``val_score`` of D_g(B_g c_i) (mean per-gene Pearson on
    the validation spots by default), best epoch restored; the gene decoder starts at the
    training mean, so an untrained GenST predicts the ``mean`` baseline. Workdir artefacts: checkpoints, ``codebook_top_genes.csv`` and
    ``reconstructions/<slide>.png`` (see :mod:`genst.artefacts`).
    """

    name = "genst"
    version = "1.0.0"
    profiles = {name: asdict(cfg) for name, cfg in PROFILES.items()}
    artefacts = {"reconstruction": "reconstructions/*.png", "atom table": "codebook_top_genes.csv"}

    def fit(self, train: SpotData, val: SpotData | None = None) -> Self:
        cfg, device, loader = start_image_fit(self, GenSTConfig, train)
        model = GenSTModel(train.n_genes, cfg)
        floor = loader.dataset.expression.mean(axis=0)
        model.gene.init_output_bias(floor)
        prepare_model(model, device)

        def step(m: GenSTModel, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
            images, expression = batch
            return genst_loss(genst_loss_terms(m(images, expression), images, expression), cfg)

        validate = None
        if val is not None and val.n_spots:
            validate = regression_validator(
                lambda m: self._predict(m, val), val.expression(), cfg.val_score, floor=floor
            )

        self.cfg_, self.device_, self.genes_, self.model_ = cfg, device, train.genes, model
        self.state_: TrainState = train_predictor(
            self, model, loader, step, cfg, train=train, val=val, validate=validate, val_score=cfg.val_score
        )
        if self.workdir is not None:
            write_codebook_csv(self.workdir / "codebook_top_genes.csv", model.gene, train.genes, cfg.n_top_genes)
        return self

    def predict(self, data: SpotData) -> np.ndarray:
        check_panel(self.genes_, data)
        if self.workdir is not None:
            self._write_reconstructions(data)
        return self._predict(self.model_, data)

    def _predict(self, model: GenSTModel, data: SpotData) -> np.ndarray:
        """D_g(B_g c_i) for every spot: float32 (n_spots, n_genes); ``model`` in eval mode."""
        cfg = self.cfg_
        loader = predict_loader(
            data, image_size=cfg.image_size, preload=cfg.preload, batch_size=cfg.batch_size, device=self.device_,
            colour=cfg.colour,
        )
        return predict_batches(model.predict, loader, self.device_)

    @torch.no_grad()
    def _write_reconstructions(self, data: SpotData) -> None:
        """``reconstructions/<slide>.png``: each slide's first patches over their x̂_i."""
        dataset = predict_dataset(
            data, image_size=self.cfg_.image_size, preload=self.cfg_.preload, colour=self.cfg_.colour
        )
        start = 0
        for slide in data.slides:
            n = min(self.cfg_.n_reconstructions, slide.n_spots)
            if n:
                images = torch.stack([dataset[i] for i in range(start, start + n)]).to(self.device_)
                recon = self.model_.image(images).reconstruction
                path = self.workdir / "reconstructions" / f"{safe_filename(slide.id)}.png"
                write_reconstruction_grid(path, images, recon)
            start += slide.n_spots


GENE_BRANCH_FIELDS = tuple(f.name for f in fields(GeneBranchConfig))


class Gene2GenePredictor(Predictor):
    """gene2gene: GenST's gene autoencoder alone, an oracle upper bound.

    Fit trains the gene branch (MLP encoder, gene codebook, MLP decoder; GenST's gene-branch
    settings) on its own, on L_g (+ L_vq with ``coefficients="vq"``), under the common recipe
    (early stopping on the validation reconstruction's ``val_score``); predict READS the
    held-out expression and returns its reconstruction D_g(B_g c_g), so it is declared an
    oracle, never a competitor. (The paper's "gene-only autoencoder part of our model" can also
    be read as the gene branch of the trained GenST; see ``genst/README.md``.)
    """

    name = "gene2gene"
    version = "1.0.0"
    oracle = True
    profiles = {name: {k: asdict(cfg)[k] for k in GENE_BRANCH_FIELDS} for name, cfg in PROFILES.items()}

    def fit(self, train: SpotData, val: SpotData | None = None) -> Self:
        cfg = config_from(GeneBranchConfig, self.config)
        device = resolve_device(self.device)
        seed_everything(self.seed)
        expression = torch.from_numpy(train.expression())
        model = GeneAutoencoder(train.n_genes, cfg)
        model.init_output_bias(expression.mean(dim=0).numpy())
        prepare_model(model, device)
        loader = make_loader(
            TensorDataset(expression),
            batch_size=cfg.batch_size,
            device=device,
            shuffle=True,
            drop_last=len(expression) > cfg.batch_size,
        )

        def step(m: GeneAutoencoder, batch: list[torch.Tensor]) -> torch.Tensor:
            out = m(batch[0])
            return mse(out.reconstruction, batch[0]) + out.vq_loss

        validate = None
        if val is not None and val.n_spots:
            truth = val.expression()
            validate = regression_validator(lambda m: self._reconstruct(m, truth), truth, cfg.val_score)

        self.cfg_, self.device_, self.genes_, self.model_ = cfg, device, train.genes, model
        self.state_: TrainState = train_predictor(
            self, model, loader, step, cfg, train=train, val=val, validate=validate, val_score=cfg.val_score
        )
        if self.workdir is not None:
            write_codebook_csv(self.workdir / "codebook_top_genes.csv", model, train.genes, cfg.n_top_genes)
        return self

    def predict(self, data: SpotData) -> np.ndarray:
        check_panel(self.genes_, data)
        return self._reconstruct(self.model_, data.expression())

    def _reconstruct(self, model: GeneAutoencoder, expression: np.ndarray) -> np.ndarray:
        """D_g(B_g c_g) of log1p expression (n, G) -> float32 (n, G); ``model`` in eval mode."""
        batches = array_batches(expression, self.cfg_.batch_size)
        return predict_batches(lambda x: model(x).reconstruction, batches, self.device_)
