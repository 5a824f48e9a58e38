"""Frozen image encoders shared by the feature-based baselines (DeepSpot, UNI-MLP, ridge probe).

An :class:`EncoderSpec` says how to build an encoder with timm, what it expects (input side in
pixels, RGB mean/std) and what it returns (a ``dim``-d vector per image). Nothing is built at
import: :meth:`EncoderSpec.build` creates the network when features are first computed (see
:mod:`stbench.features`, which caches the features on disk).

Registered encoders (:data:`ENCODERS`):

* ``uni`` -- UNI ViT-L/16 (MahmoodLab, gated weights on the Hugging Face hub), loaded as its
  authors document: ``timm.create_model("hf-hub:MahmoodLab/uni", pretrained=True,
  init_values=1e-5, dynamic_img_size=True)``; 1024-d class token, 224 px, ImageNet mean/std.
  (HEST-Benchmark passes ``init_values=1.0``; either value only creates the LayerScale
  parameters, which the checkpoint then overwrites.)
* ``resnet50`` -- torchvision's ImageNet ResNet-50 (timm ``resnet50.tv_in1k``), global average
  pool of the last stage, 2048-d, 224 px, ImageNet mean/std (the GenST paper's image encoder).
* ``resnet50-trunc`` -- the same weights truncated after the third stage and average-pooled,
  1024-d: what HEST-Benchmark's ``resnet50`` row uses (``ResNet50InferenceEncoder`` in
  ``src/hest/bench/cpath_model_zoo/inference_models.py`` of github.com/mahmoodlab/HEST:
  ``features_only=True, out_indices=[3]`` then ``AdaptiveAvgPool2d(1)``).
* ``uni-small-random`` -- CPU stand-in for ``uni`` used by the ``small`` profiles: a one-block
  ViT (patch 16, 96-d, 3 heads) at 64 px with random weights drawn from a fixed seed, mean-pooled
  over patch tokens. A 3,600-spot cohort with 3x3 sub-tiles (36,000 images, resizing included)
  encodes in about 13 s on 2 CPU cores. No LayerScale (``init_values``): with random weights it
  would scale every block to ~0 and make all features nearly identical.
* ``resnet50-small-random`` -- CPU stand-in for ``resnet50``: timm ``resnet18`` at 64 px,
  random weights from a fixed seed, 512-d.

Random-weight encoders are seeded (``seed``) inside a forked RNG, one initialisation at a time
(threads share that RNG), so the same spec always gives the same weights on a given torch/timm
version, and the feature cache can key on the seed and those versions.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from stbench.errors import StbenchError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from stbench import Predictor, Slide, SpotData

_INIT_LOCK = threading.Lock()
"""Serialises random initialisation: threads share torch's global RNG."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class EncoderSpec:
    """How to build one frozen encoder and feed it.

    Attributes:
        name: registry name (also the first part of the feature-cache folder name).
        timm_name: model name passed to ``timm.create_model``.
        kwargs: extra ``timm.create_model`` arguments (architecture overrides, pooling).
        input_size: side of the square RGB input in pixels.
        dim: length of the output feature vector.
        pretrained: load published weights (``True``) or draw random ones from ``seed``.
        mean: per-channel RGB mean in [0, 1] subtracted before the network.
        std: per-channel RGB standard deviation in [0, 1] divided out before the network.
        seed: torch seed of the random initialisation (ignored when ``pretrained``).
        pool_feature_map: the timm model is built with ``features_only`` and returns one
            feature map (b, dim, h, w); it is average-pooled to (b, dim).
    """

    name: str
    timm_name: str
    input_size: int
    dim: int
    pretrained: bool
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    seed: int = 0
    pool_feature_map: bool = False

    def weights_id(self) -> str:
        """Identity of the weights: the pretrained tag, or the seed plus the torch/timm versions.

        Pretrained weights are identified by their published name (``timm_name``), so a
        checkpoint replaced on the hub under the same name is not noticed. Random weights depend
        on the seed and on the initialisers of the installed torch and timm.
        """
        if self.pretrained:
            return f"pretrained:{self.timm_name}"
        return f"random-seed-{self.seed}-torch{_version('torch')}-timm{_version('timm')}"

    def cache_id(self) -> str:
        """Everything the features depend on, as one string (hashed into the cache key)."""
        kwargs = ",".join(f"{k}={self.kwargs[k]!r}" for k in sorted(self.kwargs))
        return (
            f"{self.name}|{self.timm_name}|{kwargs}|{self.input_size}|{self.dim}|"
            f"{self.mean}|{self.std}|{self.pool_feature_map}|{self.weights_id()}"
        )

    def build(self) -> torch.nn.Module:
        """The encoder in eval mode: (b, 3, input_size, input_size) float -> (b, dim).

        Raises:
            StbenchError: pretrained weights are neither cached locally nor downloadable.
        """
        import torch

        from stbench.torchkit.backbones import create_backbone

        if self.pretrained:
            model = create_backbone(self.timm_name, pretrained=True, **self.kwargs)
        else:
            with _INIT_LOCK, torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                model = create_backbone(self.timm_name, pretrained=False, **self.kwargs)
        if self.pool_feature_map:
            model = _pooled_single_map(model)
        return model.eval()


ENCODERS: dict[str, EncoderSpec] = {
    spec.name: spec
    for spec in (
        EncoderSpec(
            name="uni",
            timm_name="hf-hub:MahmoodLab/uni",
            kwargs={"init_values": 1e-5, "dynamic_img_size": True, "num_classes": 0},
            input_size=224,
            dim=1024,
            pretrained=True,
        ),
        EncoderSpec(
            name="resnet50",
            timm_name="resnet50.tv_in1k",
            kwargs={"num_classes": 0, "global_pool": "avg"},
            input_size=224,
            dim=2048,
            pretrained=True,
        ),
        EncoderSpec(
            name="resnet50-trunc",
            timm_name="resnet50.tv_in1k",
            kwargs={"features_only": True, "out_indices": (3,)},
            input_size=224,
            dim=1024,
            pretrained=True,
            pool_feature_map=True,
        ),
        EncoderSpec(
            name="uni-small-random",
            timm_name="vit_tiny_patch16_224",
            kwargs={
                "img_size": 64,
                "patch_size": 16,
                "depth": 1,
                "embed_dim": 96,
                "num_heads": 3,
                "num_classes": 0,
                "global_pool": "avg",
                "dynamic_img_size": True,
            },
            input_size=64,
            dim=96,
            pretrained=False,
        ),
        EncoderSpec(
            name="resnet50-small-random",
            timm_name="resnet18",
            kwargs={"num_classes": 0, "global_pool": "avg"},
            input_size=64,
            dim=512,
            pretrained=False,
        ),
    )
}


def get_encoder(name: str) -> EncoderSpec:
    """The registered encoder called ``name``; a :class:`StbenchError` naming the choices if none."""
    try:
        return ENCODERS[name]
    except KeyError:
        raise StbenchError(
            f"Unknown encoder {name!r}; choose one of {', '.join(sorted(ENCODERS))}."
        ) from None


def _pooled_single_map(model: torch.nn.Module) -> torch.nn.Module:
    """Wrap a ``features_only`` timm model returning [(b, c, h, w)] into one returning (b, c)."""
    from torch import nn

    class PooledFeatureMap(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            (feature_map,) = self.inner(x)
            return feature_map.mean(dim=(2, 3))

    return PooledFeatureMap(model)


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


def spot_features(predictor: Predictor, data: SpotData) -> np.ndarray:
    """float32 (data.n_spots, dim): the cached frozen features of ``data``'s spot patches, with
    the predictor's ``encoder`` and ``feature_batch_size`` settings, on its device."""
    from stbench.features import data_features

    return data_features(
        data,
        get_encoder(predictor.config["encoder"]),
        batch_size=predictor.config["feature_batch_size"],
        device=predictor.device,
        progress=predictor.track,
    )


def slide_spot_features(predictor: Predictor, slide: Slide, *, centre: bool) -> np.ndarray:
    """float32 (slide.n_spots, dim): the cached frozen ``spot`` features of one slide, with the
    predictor's ``encoder`` and ``feature_batch_size`` settings, on its device; with ``centre``,
    minus their mean over the slide's spots (the per-slide stain/scanner offset removed, as
    DeepSpot's ``centre_per_slide`` does)."""
    from stbench.features import slide_features

    features = slide_features(
        slide,
        get_encoder(predictor.config["encoder"]),
        batch_size=predictor.config["feature_batch_size"],
        device=predictor.device,
        progress=predictor.track,
    )
    return features - features.mean(axis=0, keepdims=True) if centre else features
