"""Stem's configuration: one dataclass, ``small`` and ``paper`` profiles.

``paper`` follows the authors' defaults (github.com/SichenZhu/Stem, ``stem_train.py`` and
``stem_sample.py``): a DiT of depth 12, hidden 384, 6 heads, MLP ratio 4, one token per gene;
1000 diffusion steps, linear betas, noise (``epsilon``) target; AdamW lr 1e-4, weight decay 0,
batch 256; 1000 sampling steps; 20 samples per spot, averaged. Their 4000 epochs become the
maximum of the common recipe (early stopping, patience 50: our choice, the authors keep the
last checkpoint). Budget: one GPU; sampling dominates (see the predictor docstring).

``small`` (CPU; budget: 2 CPU cores, seconds per demo fold): UNI stand-in ``uni-small-random``,
hidden 32, depth 1, 2 heads, MLP ratio 2, 128 genes per token, the clean-sample (``x0``) target
(the untrained model predicts the training mean, the recipe's epoch 0), 5 respaced sampling
steps, 8 samples averaged (validation: 2), at most 30 epochs (patience 4), RAdam lr 2e-3, batch 128.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StemConfig:
    """Settings of the ``stem`` predictor.

    Attributes:
        encoder: frozen encoder of the spot patch (a name in the registry, ``stbench encoders``).
        feature_batch_size: images per encoder call when features are computed.
        centre_per_slide: subtract each slide's mean spot feature (see the predictor docstring).
        hidden, depth, heads, mlp_ratio: the DiT (:class:`~baselines.stem.model.StemNet`).
        gene_patch: genes per token (1 = one token per gene, as Stem).
        diffusion_steps: length of the diffusion chain.
        parametrisation: the network's target, ``epsilon`` (Stem) or ``x0``.
        sampling_steps, samples: respaced sampler steps and samples averaged per test spot.
        val_sampling_steps, val_samples: the same when validation predictions are made.
        sample_batch_size: rows per network call when sampling.
        epochs, patience, val_score, batch_size, lr, weight_decay, optimizer: the common
            training recipe (:mod:`stbench.torchkit.training`).
    """

    encoder: str
    feature_batch_size: int
    centre_per_slide: bool
    hidden: int
    depth: int
    heads: int
    mlp_ratio: float
    gene_patch: int
    diffusion_steps: int
    parametrisation: str
    sampling_steps: int
    samples: int
    val_sampling_steps: int
    val_samples: int
    sample_batch_size: int
    epochs: int
    patience: int
    val_score: str
    batch_size: int
    lr: float
    weight_decay: float
    optimizer: str


PAPER = StemConfig(
    encoder="uni",
    feature_batch_size=128,
    centre_per_slide=True,
    hidden=384,
    depth=12,
    heads=6,
    mlp_ratio=4.0,
    gene_patch=1,
    diffusion_steps=1000,
    parametrisation="epsilon",
    sampling_steps=1000,
    samples=20,
    val_sampling_steps=50,
    val_samples=4,
    sample_batch_size=200,
    epochs=4000,
    patience=50,
    val_score="pearson_gene",
    batch_size=256,
    lr=1e-4,
    weight_decay=0.0,
    optimizer="adamw",
)

SMALL = StemConfig(
    encoder="uni-small-random",
    feature_batch_size=256,
    centre_per_slide=True,
    hidden=32,
    depth=1,
    heads=2,
    mlp_ratio=2.0,
    gene_patch=128,
    diffusion_steps=1000,
    parametrisation="x0",
    sampling_steps=5,
    samples=8,
    val_sampling_steps=5,
    val_samples=2,
    sample_batch_size=4096,
    epochs=30,
    patience=4,
    val_score="pearson_gene",
    batch_size=128,
    lr=2e-3,
    weight_decay=0.0,
    optimizer="radam",
)

PROFILES: dict[str, StemConfig] = {"small": SMALL, "paper": PAPER}
