"""``colour-ridge``: ridge regression from per-patch colour statistics to expression.

A complete third-party stbench plugin in one file. Features per spot: the mean and standard
deviation of each RGB channel and the fraction of dark (nuclei-like) pixels, computed on the
patch downsampled to 32 px. Target: expression in log1p space, all panel genes at once.
"""

from __future__ import annotations

from typing import Self

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from stbench import Predictor, SpotData
from stbench.data.images import resized_patches


def colour_features(data: SpotData, size: int) -> np.ndarray:
    """float32 (n_spots, 7): RGB means, RGB stds (0-1 scale) and dark-pixel fraction."""
    feats = []
    for slide in data:
        px = resized_patches(slide, size).reshape(slide.n_spots, -1, 3).astype(np.float32) / 255.0
        dark = (px.mean(axis=2) < 0.45).mean(axis=1, keepdims=True)
        feats.append(np.concatenate([px.mean(axis=1), px.std(axis=1), dark], axis=1))
    return np.concatenate(feats).astype(np.float32)


class ColourRidge(Predictor):
    name = "colour-ridge"
    version = "0.1.0"
    profiles = {"small": {"alpha": 1.0, "size": 32}, "paper": {"alpha": 1.0, "size": 64}}

    def fit(self, train: SpotData, val: SpotData | None = None) -> Self:
        x = colour_features(train, self.config["size"])
        self.scaler_ = StandardScaler().fit(x)
        self.ridge_ = Ridge(alpha=self.config["alpha"]).fit(self.scaler_.transform(x), train.expression())
        return self

    def predict(self, data: SpotData) -> np.ndarray:
        x = self.scaler_.transform(colour_features(data, self.config["size"]))
        return self.ridge_.predict(x).astype(np.float32)
