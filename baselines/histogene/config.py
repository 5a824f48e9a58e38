"""HisToGene's configuration: one dataclass, ``small`` and ``paper`` profiles.

``paper`` follows Pang et al. (2021) and github.com/maxpmx/HisToGene (``vis_model.py``,
``tutorial.ipynb``): 112 px patches flattened, 1024-d tokens, 8 transformer layers of 16 heads
of 64 channels, feed-forward width 2 x 1024, dropout 0.1 (also on the embeddings), Adam lr
1e-5 without weight decay (``adamw`` at weight decay 0 is the same update), one slide per step,
100 epochs (stbench stops earlier after 10 epochs without a better validation score). Budget:
one GPU; a step is one slide (~4,000 tokens on Visium), minutes per fold (estimates in
``baselines/README.md``).

``small`` (CPU; budget: 2 CPU cores, a few seconds per demo fold): 16 px patches, 64-d tokens,
2 layers of 4 heads of 16 channels, lr 1e-3, at most 60 epochs (patience 8; an epoch is one
step per training slide).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HisToGeneConfig:
    """Settings of the ``histogene`` predictor.

    Attributes:
        patch_size: side in pixels the 224 px spot patch is resized to before flattening.
        dim: token width.
        depth: transformer layers (``n_layers``).
        heads: attention heads.
        dim_head: channels per head.
        mlp_ratio: feed-forward width over ``dim``.
        dropout: dropout of the embeddings, attention outputs and feed-forward parts.
        n_pos: rows of each position-embedding table; positions (in half spot spacings, see
            :mod:`baselines.slide_grid`) past ``n_pos - 1`` share the last row.
        epochs: the maximum number of epochs (:mod:`stbench.torchkit.training`).
        patience: stop after this many epochs without a better validation score.
        val_score: ``pearson_gene`` or ``mse`` (:data:`stbench.torchkit.validation.VAL_SCORES`).
        lr, weight_decay, optimizer: optimisation (``adamw`` or ``radam``).
    """

    patch_size: int
    dim: int
    depth: int
    heads: int
    dim_head: int
    mlp_ratio: float
    dropout: float
    n_pos: int
    epochs: int
    patience: int
    val_score: str
    lr: float
    weight_decay: float
    optimizer: str


PAPER = HisToGeneConfig(
    patch_size=112,
    dim=1024,
    depth=8,
    heads=16,
    dim_head=64,
    mlp_ratio=2.0,
    dropout=0.1,
    n_pos=256,
    epochs=100,
    patience=10,
    val_score="pearson_gene",
    lr=1e-5,
    weight_decay=0.0,
    optimizer="adamw",
)

SMALL = HisToGeneConfig(
    patch_size=16,
    dim=64,
    depth=2,
    heads=4,
    dim_head=16,
    mlp_ratio=2.0,
    dropout=0.1,
    n_pos=256,
    epochs=60,
    patience=8,
    val_score="pearson_gene",
    lr=1e-3,
    weight_decay=0.0,
    optimizer="adamw",
)

PROFILES: dict[str, HisToGeneConfig] = {"small": SMALL, "paper": PAPER}
