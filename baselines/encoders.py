"""Frozen-encoder features for the feature-based baselines (DeepSpot, UNI-MLP, ridge probe).

The encoders themselves are the core's registry (:mod:`stbench.encoders`; ``stbench encoders``
lists them); the features are cached on disk by :mod:`stbench.torchkit.features`. Every frozen-feature
model has the same extraction settings, read here:

* ``encoder`` -- a registry name (``--set encoder=uni2-h``); recorded in the result's settings.
* ``feature_batch_size`` -- images per encoder forward pass.
* ``feature_bf16`` -- bfloat16 autocast on a GPU (ignored on a CPU); features computed so are
  cached apart from float32 ones.
* ``feature_workers`` -- threads reading and resizing the next batches of patches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stbench.encoders import EncoderConfig, encoder_info

if TYPE_CHECKING:
    import numpy as np

    from stbench import Predictor, Slide, SpotData

EXTRACTION_DEFAULTS: dict[str, Any] = {"feature_bf16": False, "feature_workers": 0}
"""Extraction settings every frozen-feature profile has (besides ``encoder`` and ``feature_batch_size``)."""


def predictor_encoder(predictor: Predictor) -> EncoderConfig:
    """The registry entry named by ``predictor``'s ``encoder`` setting ("did you mean" if unknown)."""
    return encoder_info(predictor.config["encoder"])


def extraction_kwargs(predictor: Predictor) -> dict[str, Any]:
    """``batch_size``, ``bf16``, ``workers``, ``device`` and ``progress`` for :mod:`stbench.torchkit.features`."""
    cfg = predictor.config
    return {
        "batch_size": cfg["feature_batch_size"],
        "bf16": bool(cfg.get("feature_bf16", False)),
        "workers": int(cfg.get("feature_workers", 0)),
        "device": predictor.device,
        "progress": predictor.track,
    }


def spot_features(predictor: Predictor, data: SpotData) -> np.ndarray:
    """float32 (data.n_spots, dim): the cached frozen features of ``data``'s spot patches, with
    the predictor's encoder and extraction settings, on its device."""
    from stbench.torchkit.features import data_features

    return data_features(data, predictor_encoder(predictor), **extraction_kwargs(predictor))


def slide_spot_features(predictor: Predictor, slide: Slide, *, centre: bool) -> np.ndarray:
    """float32 (slide.n_spots, dim): the cached frozen ``spot`` features of one slide, with the
    predictor's encoder and extraction settings, on its device; with ``centre``, minus their mean
    over the slide's spots (the per-slide stain/scanner offset removed, as DeepSpot's
    ``centre_per_slide`` does)."""
    from stbench.torchkit.features import slide_features

    features = slide_features(slide, predictor_encoder(predictor), **extraction_kwargs(predictor))
    return features - features.mean(axis=0, keepdims=True) if centre else features
