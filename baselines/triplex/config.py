"""TRIPLEX's configuration: one dataclass, ``small`` and ``paper`` profiles.

``paper`` takes the network of the authors' BC1 (her2st) configuration,
``config/ST/andersson/TRIPLEX.yaml`` of github.com/NEXGEM/TRIPLEX (the other datasets tune
depths, heads and dropouts differently: BC2 ``bryan`` fusion 3 / global 3 / neighbour 4 layers,
SCC ``andrew`` 2 / 2 / 4), and the schedule of its ``default.yaml``: AdamW lr 1e-4 (torch's
default weight decay 0.01), batch 128, at most 1,000 epochs with early stopping after 20
epochs without a better validation score, fusion-loss weight alpha 0.3 (``TRIPLEX.py``). The
encoder is UNI, which the authors' current code reads for its slide embeddings (``uni_v1`` in
``src/dataset/tri_dataset.py``). Budget: one GPU; UNI features of spots and sub-tiles (cached,
shared with ``deepspot``), then per step a global-encoder pass over each slide in the batch,
which dominates on Visium cohorts (estimates in ``baselines/README.md``).

``small`` (CPU; budget: 2 CPU cores, seconds per demo fold once the features are cached): the
random-weight 96-d stand-in ``uni-small-random``, 32-d tokens, 2 heads, one layer per branch
besides the global encoder's two (the least its convolutional position encoding allows), at
most 30 epochs (patience 3), AdamW lr 3e-3, batch 1,024. A step costs one global-encoder pass
(with its backward) over every spot of each slide in the batch, so on the CPU the batch is
large: on the demo's fold 0 (8 training slides, 2,532 spots) batch 128 took 3x the CPU time of
batch 1,024 (31.5 s vs 10.3 s, 4 heads, on a loaded machine) for test pearson_gene 0.128 vs
0.113; 2 heads instead of 4 then cut the CPU time from 9.4 s to 6.3 s at the same score.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TriplexConfig:
    """Settings of the ``triplex`` predictor.

    Attributes:
        encoder: frozen encoder of every branch (a name in the registry, ``stbench encoders``).
        subtiles: the target branch's tokens are the spot patch and its ``subtiles`` x
            ``subtiles`` sub-tiles.
        window: side of the neighbour window in spot spacings (odd; 5 in TRIPLEX).
        emb_dim: token width of every branch (``emb_dim``).
        fusion_depth, global_depth, neighbour_depth: transformer layers (``depth1..3``); the
            global encoder puts its position encoding after its first layer, so at least 2.
        fusion_heads, global_heads, neighbour_heads: attention heads (``num_heads1..3``).
        fusion_mlp_ratio, global_mlp_ratio, neighbour_mlp_ratio: feed-forward width over
            ``emb_dim`` (``mlp_ratio1..3``).
        fusion_dropout, global_dropout, neighbour_dropout: dropout (``dropout1..3``).
        kernel_size: side of APEG's depthwise convolution over the spot grid.
        alpha: weight of the distillation terms in the fusion loss (1 - alpha on the branches'
            own supervised terms).
        epochs: the maximum number of epochs (:mod:`stbench.torchkit.training`).
        patience: stop after this many epochs without a better validation score.
        val_score: ``pearson_gene`` or ``mse`` (:data:`stbench.torchkit.validation.VAL_SCORES`).
        batch_size: spots per step (prediction too).
        lr, weight_decay, optimizer: optimisation (``adamw`` or ``radam``).
        feature_batch_size: images per encoder forward pass when features are computed.
    """

    encoder: str
    subtiles: int
    window: int
    emb_dim: int
    fusion_depth: int
    global_depth: int
    neighbour_depth: int
    fusion_heads: int
    global_heads: int
    neighbour_heads: int
    fusion_mlp_ratio: float
    global_mlp_ratio: float
    neighbour_mlp_ratio: float
    fusion_dropout: float
    global_dropout: float
    neighbour_dropout: float
    kernel_size: int
    alpha: float
    epochs: int
    patience: int
    val_score: str
    batch_size: int
    lr: float
    weight_decay: float
    optimizer: str
    feature_batch_size: int


PAPER = TriplexConfig(
    encoder="uni",
    subtiles=3,
    window=5,
    emb_dim=512,
    fusion_depth=1,
    global_depth=3,
    neighbour_depth=3,
    fusion_heads=4,
    global_heads=16,
    neighbour_heads=16,
    fusion_mlp_ratio=4.0,
    global_mlp_ratio=4.0,
    neighbour_mlp_ratio=1.0,
    fusion_dropout=0.2,
    global_dropout=0.1,
    neighbour_dropout=0.3,
    kernel_size=3,
    alpha=0.3,
    epochs=1000,
    patience=20,
    val_score="pearson_gene",
    batch_size=128,
    lr=1e-4,
    weight_decay=0.01,
    optimizer="adamw",
    feature_batch_size=128,
)

SMALL = TriplexConfig(
    encoder="uni-small-random",
    subtiles=3,
    window=5,
    emb_dim=32,
    fusion_depth=1,
    global_depth=2,
    neighbour_depth=1,
    fusion_heads=2,
    global_heads=2,
    neighbour_heads=2,
    fusion_mlp_ratio=4.0,
    global_mlp_ratio=4.0,
    neighbour_mlp_ratio=1.0,
    fusion_dropout=0.2,
    global_dropout=0.1,
    neighbour_dropout=0.3,
    kernel_size=3,
    alpha=0.3,
    epochs=30,
    patience=3,
    val_score="pearson_gene",
    batch_size=1024,
    lr=3e-3,
    weight_decay=0.01,
    optimizer="adamw",
    feature_batch_size=256,
)

PROFILES: dict[str, TriplexConfig] = {"small": SMALL, "paper": PAPER}
