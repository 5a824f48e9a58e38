"""The HisToGene network (Pang et al., 2021): a ViT whose tokens are a slide's spot patches."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from baselines.attention import Block
from baselines.histogene.config import HisToGeneConfig
from stbench.torchkit.heads import init_mean_head


class HisToGeneNet(nn.Module):
    """Flattened patches (n, 3 * p * p) + x/y position embeddings -> transformer -> LN -> Linear.

    ``token = Linear(3 p^2, dim)(patch) + x_embed[x] + y_embed[y]``, dropout, ``depth``
    pre-norm layers (:class:`~baselines.attention.Block`), then ``LayerNorm -> Linear(dim, G)``
    per spot. The last layer starts at weight 0 and bias = the training mean, so the untrained
    network predicts the ``mean`` baseline.
    """

    def __init__(self, n_genes: int, cfg: HisToGeneConfig, mean_expression: np.ndarray) -> None:
        super().__init__()
        self.patch_embedding = nn.Linear(3 * cfg.patch_size**2, cfg.dim)
        self.x_embed = nn.Embedding(cfg.n_pos, cfg.dim)
        self.y_embed = nn.Embedding(cfg.n_pos, cfg.dim)
        self.dropout = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(
            Block(cfg.dim, cfg.heads, int(cfg.dim * cfg.mlp_ratio), cfg.dropout, cfg.dim_head)
            for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, n_genes)
        init_mean_head(self.head, mean_expression)

    def forward(self, patches: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Expression (n, G) in log1p space.

        Args:
            patches: float (n, 3 * p * p) pixel values 0-255 (unscaled, as the authors'), one slide's spots.
            positions: int64 (n, 2) grid positions (x, y), each in ``0 .. n_pos - 1``.
        """
        x = self.patch_embedding(patches) + self.x_embed(positions[:, 0]) + self.y_embed(positions[:, 1])
        x = self.dropout(x)[None]
        for layer in self.layers:
            x = layer(x)
        return self.head(self.norm(x[0]))
