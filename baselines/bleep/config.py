"""BLEEP's configuration: one dataclass, ``small`` and ``paper`` profiles.

``paper`` follows the common protocol the GenST paper used for every model (100 epochs, RAdam
lr 1e-4, weight decay 1e-4, Appendix A augmentations, 224 px, ImageNet ResNet-50). Where
BLEEP's authors differ (Xie et al., 2023): AdamW lr 1e-3, weight decay 1e-3; their batch of
256, projection size 256, dropout 0.1, temperature 1 and top-50 retrieval are kept. Training
(ours): the common recipe of :mod:`stbench.torchkit.training`, 100 epochs as the maximum, early
stopping after 10 epochs without a better validation Pearson of the retrieval prediction.
Budget: one GPU, hours per fold on a paper cohort.

``small`` (CPU, random weights; budget: 2 CPU cores, at most a few minutes per fold on ~1,000
training spots x ~14,000 genes, seconds on the demo fold): a quarter-width ResNet-18 (128-d
features) at 32 px, 64-d projections, at most 20 epochs with patience 3, RAdam lr 3e-3, batch
64, flips and 90-degree rotations only; the input size, schedule and augmentations shared by
every small image model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BLEEPConfig:
    """Settings of the ``bleep`` predictor.

    Attributes:
        backbone: timm image encoder, globally average-pooled (ResNet-50: 2048-d).
        pretrained: ImageNet weights (``paper``) or random ones (``small``).
        backbone_kwargs: extra timm constructor arguments (``small`` narrows the ResNet).
        image_size: input side in pixels.
        projection_dim: size of both projection heads' output (the shared embedding).
        dropout: dropout inside the projection heads.
        temperature: T of the contrastive loss (logits / T, targets softmax(... / T)).
        top_k: training spots averaged per query at inference.
        epochs: the maximum number of epochs (:mod:`stbench.torchkit.training`).
        patience: stop after this many epochs without a better validation score.
        batch_size, lr, weight_decay: optimisation (RAdam).
        augment: training augmentations (``paper``, ``dihedral`` or ``none``).
        preload: hold all resized patches in memory.
        colour: ``raw`` keeps the pixels (BLEEP's recipe, both profiles); ``slide`` standardises
            each slide's colour from its own patches (:mod:`stbench.torchkit.data`).
    """

    backbone: str
    pretrained: bool
    backbone_kwargs: dict[str, Any]
    image_size: int
    projection_dim: int
    dropout: float
    temperature: float
    top_k: int
    epochs: int
    patience: int
    batch_size: int
    lr: float
    weight_decay: float
    augment: str
    preload: bool
    colour: str


PAPER = BLEEPConfig(
    backbone="resnet50.tv_in1k",
    pretrained=True,
    backbone_kwargs={},
    image_size=224,
    projection_dim=256,
    dropout=0.1,
    temperature=1.0,
    top_k=50,
    epochs=100,
    patience=10,
    batch_size=256,
    lr=1e-4,
    weight_decay=1e-4,
    augment="paper",
    preload=False,
    colour="raw",
)

SMALL = BLEEPConfig(
    backbone="resnet18",
    pretrained=False,
    backbone_kwargs={"stem_width": 16, "channels": (16, 32, 64, 128)},
    image_size=32,
    projection_dim=64,
    dropout=0.1,
    temperature=1.0,
    top_k=50,
    epochs=20,
    patience=3,
    batch_size=64,
    lr=3e-3,
    weight_decay=1e-4,
    augment="dihedral",
    preload=True,
    colour="raw",
)

PROFILES: dict[str, BLEEPConfig] = {"small": SMALL, "paper": PAPER}
