"""``mean``: predicts the training-set mean expression for every spot (the calibration floor)."""

from __future__ import annotations

from typing import Self

import numpy as np

from stbench import Predictor, SpotData


class MeanPredictor(Predictor):
    """Every spot gets the mean log1p expression of all training spots.

    It carries no information about the image, so per-gene Pearson (``pearson_gene``) is 0
    by the metric's definition; every leaderboard shows it as the floor a model must beat.
    """

    name = "mean"
    version = "1.0.0"
    profiles = {"small": {}, "paper": {}}

    def fit(self, train: SpotData, val: SpotData | None = None) -> Self:
        total = np.zeros(train.n_genes, np.float64)
        for slide in train:
            total += slide.expression().sum(axis=0, dtype=np.float64)
        self.mean_ = (total / max(train.n_spots, 1)).astype(np.float32)
        return self

    def predict(self, data: SpotData) -> np.ndarray:
        return np.broadcast_to(self.mean_, (data.n_spots, data.n_genes)).copy()
