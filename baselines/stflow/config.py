"""STFlow's configuration: one dataclass, ``small`` and ``paper`` profiles.

``paper``: UNI features; the spatial transformer's sizes of the authors' released successor
(STPath, github.com/Graph-and-Geometric-Learning/STPath, ``stpath/model/nn_utils/config.py``:
4 layers, 4 heads, MLP ratio 2, dropout 0.1, attention dropout 0.1, 16 neighbours) with a
hidden width of 128 (our choice: STPath's 512 serves 38,984 genes); 5 sampling steps; the GenST
paper's common protocol for optimisation (at most 100 epochs, patience 10, RAdam lr 1e-4,
weight decay 1e-4). One slide per step. Budget: one GPU; UNI features dominate.

``small`` (CPU; budget: 2 CPU cores, seconds per demo fold): ``uni-small-random`` features,
hidden 64, 2 layers, 4 heads, 8 neighbours, 5 sampling steps, at most 60 epochs (patience 6),
RAdam lr 2e-3.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class STFlowConfig:
    """Settings of the ``stflow`` predictor.

    Attributes:
        encoder: frozen encoder of the spot patch (a name in the registry, ``stbench encoders``).
        feature_batch_size: images per encoder call when features are computed.
        centre_per_slide: subtract each slide's mean spot feature (see the predictor docstring).
        hidden, depth, heads, mlp_ratio, dropout, attn_dropout: the spatial transformer
            (:class:`~baselines.stflow.model.STFlowNet`).
        neighbours: spots each spot attends to (itself included), nearest first.
        sampling_steps: Euler steps of the flow at inference (and for validation predictions).
        epochs, patience, val_score, lr, weight_decay, optimizer: the common training recipe
            (:mod:`stbench.torchkit.training`); a batch is one training slide.
    """

    encoder: str
    feature_batch_size: int
    centre_per_slide: bool
    hidden: int
    depth: int
    heads: int
    mlp_ratio: float
    dropout: float
    attn_dropout: float
    neighbours: int
    sampling_steps: int
    epochs: int
    patience: int
    val_score: str
    lr: float
    weight_decay: float
    optimizer: str


PAPER = STFlowConfig(
    encoder="uni",
    feature_batch_size=128,
    centre_per_slide=True,
    hidden=128,
    depth=4,
    heads=4,
    mlp_ratio=2.0,
    dropout=0.1,
    attn_dropout=0.1,
    neighbours=16,
    sampling_steps=5,
    epochs=100,
    patience=10,
    val_score="pearson_gene",
    lr=1e-4,
    weight_decay=1e-4,
    optimizer="radam",
)

SMALL = STFlowConfig(
    encoder="uni-small-random",
    feature_batch_size=256,
    centre_per_slide=True,
    hidden=64,
    depth=2,
    heads=4,
    mlp_ratio=2.0,
    dropout=0.1,
    attn_dropout=0.0,
    neighbours=8,
    sampling_steps=5,
    epochs=60,
    patience=6,
    val_score="pearson_gene",
    lr=2e-3,
    weight_decay=1e-4,
    optimizer="radam",
)

PROFILES: dict[str, STFlowConfig] = {"small": SMALL, "paper": PAPER}
