"""Prediction by retrieval, shared by ``bleep`` and ``clip``: a test spot's expression is the
mean over the ``top_k`` training spots whose expression embeddings are most cosine-similar to
its image embedding."""

from __future__ import annotations

import abc
from collections.abc import Callable

import numpy as np
import torch

from baselines.bleep.retrieval import retrieve_mean
from stbench.data.spots import SpotData
from stbench.predictor import Predictor
from stbench.torchkit.data import predict_loader
from stbench.torchkit.training import array_batches, check_panel, predict_batches
from stbench.torchkit.validation import regression_validator

Embedder = Callable[[torch.Tensor], torch.Tensor]


class RetrievalPredictor(Predictor):
    """Base of the retrieval models. ``fit`` sets ``cfg_`` (with ``image_size``, ``preload``,
    ``colour``, ``batch_size``, ``top_k``), ``device_``, ``genes_``, ``model_`` and ``reference_values_``
    (float32 (n_train, n_genes), the training expression), trains with
    :meth:`retrieval_validator` and ends with :meth:`index_reference`."""

    @abc.abstractmethod
    def image_embedder(self, model: torch.nn.Module) -> Embedder:
        """images (B, 3, S, S) -> query embeddings (B, D)."""

    @abc.abstractmethod
    def expression_embedder(self, model: torch.nn.Module) -> Embedder:
        """expression (B, n_genes) -> reference embeddings (B, D)."""

    def predict(self, data: SpotData) -> np.ndarray:
        check_panel(self.genes_, data)
        return self._predict(self.model_, data)

    def index_reference(self, model: torch.nn.Module) -> None:
        """Embed every training spot: ``reference_`` (n_train, D) on the model's device."""
        batches = array_batches(self.reference_values_, self.cfg_.batch_size)
        embeddings = predict_batches(self.expression_embedder(model), batches, self.device_)
        self.reference_ = torch.from_numpy(embeddings).to(self.device_)

    def retrieval_validator(
        self, val: SpotData | None, score: str = "pearson_gene"
    ) -> Callable[[torch.nn.Module], float] | None:
        """Early-stopping score of the retrieval prediction on the validation spots (``score``
        of :data:`stbench.torchkit.validation.VAL_SCORES`; mean per-gene Pearson by default)."""
        if val is None or not val.n_spots:
            return None

        def predict(model: torch.nn.Module) -> np.ndarray:
            self.index_reference(model)
            return self._predict(model, val)

        return regression_validator(predict, val.expression(), score)

    def _predict(self, model: torch.nn.Module, data: SpotData) -> np.ndarray:
        """Retrieval prediction: float32 (n_spots, n_genes); ``model`` in eval mode."""
        cfg = self.cfg_
        loader = predict_loader(
            data, image_size=cfg.image_size, preload=cfg.preload, batch_size=cfg.batch_size, device=self.device_,
            colour=cfg.colour,
        )
        queries = predict_batches(self.image_embedder(model), loader, self.device_)
        queries_t = torch.from_numpy(queries).to(self.device_)
        return retrieve_mean(queries_t, self.reference_, self.reference_values_, cfg.top_k)
