"""The TRIPLEX network (Chung et al., CVPR 2024): three branches, cross-attention fusion, four heads.

Shapes: ``dim`` is the frozen encoder's feature width, ``e`` the token width (``emb_dim``),
``t`` the target tokens per spot, ``k = window**2`` the neighbour-window cells, ``G`` the genes.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from baselines.attention import Block
from baselines.triplex.config import TriplexConfig
from stbench.torchkit.heads import init_mean_head


class RelativeBias(nn.Module):
    """A learned attention bias per head for each (|row offset|, |column offset|) between two
    cells of a ``side`` x ``side`` window (TRIPLEX's neighbour encoder, after LeViT); starts at 0.
    """

    def __init__(self, heads: int, side: int) -> None:
        super().__init__()
        points = list(itertools.product(range(side), range(side)))
        offsets: dict[tuple[int, int], int] = {}
        idx = [
            offsets.setdefault((abs(a[0] - b[0]), abs(a[1] - b[1])), len(offsets)) for a in points for b in points
        ]
        self.biases = nn.Parameter(torch.zeros(heads, len(offsets)))
        self.register_buffer("index", torch.tensor(idx).view(len(points), len(points)), persistent=False)

    def forward(self) -> torch.Tensor:
        """float (heads, side**2, side**2)."""
        return self.biases[:, self.index]


class APEG(nn.Module):
    """TRIPLEX's position encoding of the slide's spot tokens: tokens are scattered onto the
    spot grid (tokens sharing a cell are averaged), a depthwise ``kernel`` x ``kernel`` convolution
    runs over the grid, and each spot takes the convolution's output at its cell (as the
    authors' ``APEG.forward`` does: the output replaces the token, no residual)."""

    def __init__(self, dim: int, kernel: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(dim, dim, kernel, padding=kernel // 2, groups=dim)

    def forward(self, x: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        """x (n, e) tokens, cells int64 (n, 2) grid positions (x, y) -> (n, e)."""
        n, e = x.shape
        width, height = int(cells[:, 0].max()) + 1, int(cells[:, 1].max()) + 1
        flat = cells[:, 1] * width + cells[:, 0]
        dense = x.new_zeros(width * height, e).index_add_(0, flat, x)
        count = x.new_zeros(width * height).index_add_(0, flat, x.new_ones(n)).clamp_(min=1)
        grid = (dense / count[:, None]).T.reshape(1, e, height, width)
        return self.proj(grid).reshape(e, height * width).T[flat]


class TriplexNet(nn.Module):
    """Target, neighbour and global branches on frozen features, fused by cross-attention.

    * target: the spot's ``t`` tokens -> ``Linear(dim, e)`` (TRIPLEX's ``target_linear``);
    * neighbour: the window's ``k`` cells -> ``Linear(dim, e)`` -> transformer with a learned
      relative-position bias, empty cells masked as keys -> LayerNorm;
    * global: every spot of the slide -> ``Linear(dim, e)`` -> one transformer layer -> APEG ->
      ``global_depth - 1`` layers -> LayerNorm: one token per spot;
    * fusion: the spot's global token queries its target tokens and, with the same layers, its
      neighbour tokens (empty cells masked); the two results are summed and normalised.

    Four heads ``Linear(e, G)``, each clamped at 0 (log1p expression is non-negative): the
    fusion head on the fused token, and one per branch on the mean of its tokens (over valid
    cells for the neighbour branch). Every head starts at weight 0 and bias = the training mean.
    """

    def __init__(self, dim: int, n_genes: int, cfg: TriplexConfig, mean_expression: np.ndarray) -> None:
        super().__init__()
        if cfg.global_depth < 2:
            raise ValueError("global_depth must be at least 2 (APEG sits after the first layer)")
        e = cfg.emb_dim
        self.target_proj = nn.Linear(dim, e)
        self.neighbour_proj = nn.Linear(dim, e)
        self.global_proj = nn.Linear(dim, e)
        self.neighbour_layers = nn.ModuleList(
            Block(e, cfg.neighbour_heads, int(e * cfg.neighbour_mlp_ratio), cfg.neighbour_dropout)
            for _ in range(cfg.neighbour_depth)
        )
        self.neighbour_biases = nn.ModuleList(
            RelativeBias(cfg.neighbour_heads, cfg.window) for _ in range(cfg.neighbour_depth)
        )
        self.neighbour_norm = nn.LayerNorm(e)
        self.global_layers = nn.ModuleList(
            Block(e, cfg.global_heads, int(e * cfg.global_mlp_ratio), cfg.global_dropout)
            for _ in range(cfg.global_depth)
        )
        self.apeg = APEG(e, cfg.kernel_size)
        self.global_norm = nn.LayerNorm(e)
        self.fusion_layers = nn.ModuleList(
            Block(e, cfg.fusion_heads, int(e * cfg.fusion_mlp_ratio), cfg.fusion_dropout)
            for _ in range(cfg.fusion_depth)
        )
        self.fusion_norm = nn.LayerNorm(e)
        self.heads = nn.ModuleDict({name: nn.Linear(e, n_genes) for name in ("fusion", "target", "neighbour", "global")})
        for head in self.heads.values():
            init_mean_head(head, mean_expression)

    def encode_slide(self, features: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        """Global tokens (n, e) of one slide from its spot features (n, dim) and grid cells (n, 2)."""
        x = self.global_layers[0](self.global_proj(features)[None])[0]
        x = self.apeg(x, cells)[None]
        for layer in self.global_layers[1:]:
            x = layer(x)
        return self.global_norm(x)[0]

    def forward(
        self, target: torch.Tensor, window: torch.Tensor, valid: torch.Tensor, global_token: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Expression (b, G) of each head, keyed ``fusion``, ``target``, ``neighbour``, ``global``.

        Args:
            target: (b, t, dim) target-token features.
            window: (b, k, dim) neighbour-window features (anything in empty cells).
            valid: bool (b, k), the cells that hold a spot (the centre always does).
            global_token: (b, e) the spots' global tokens (:meth:`encode_slide`).
        """
        target_tokens = self.target_proj(target)
        neighbour_tokens = self.neighbour_proj(window)
        for layer, bias in zip(self.neighbour_layers, self.neighbour_biases, strict=True):
            neighbour_tokens = layer(neighbour_tokens, bias=bias(), key_mask=valid)
        neighbour_tokens = self.neighbour_norm(neighbour_tokens)
        query = global_token[:, None]
        from_target, from_neighbours = query, query
        for layer in self.fusion_layers:
            from_target = layer(from_target, kv=target_tokens)
            from_neighbours = layer(from_neighbours, kv=neighbour_tokens, key_mask=valid)
        fused = self.fusion_norm(from_target + from_neighbours)[:, 0]
        weights = valid.to(neighbour_tokens.dtype)[..., None]
        neighbour_mean = (neighbour_tokens * weights).sum(1) / weights.sum(1)
        tokens = {
            "fusion": fused,
            "target": target_tokens.mean(1),
            "neighbour": neighbour_mean,
            "global": global_token,
        }
        return {name: self.heads[name](token).clamp(min=0) for name, token in tokens.items()}


def triplex_loss(outputs: dict[str, torch.Tensor], truth: torch.Tensor, alpha: float) -> torch.Tensor:
    """TRIPLEX's fusion loss: ``MSE(fusion, y) + sum over the three branches of
    (1 - alpha) MSE(branch, y) + alpha MSE(fusion, branch)`` (the distillation term pulls fusion
    and branch towards each other; no gradient is stopped, as in the authors' ``calculate_loss``)."""
    fused = outputs["fusion"].float()
    loss = F.mse_loss(fused, truth)
    for name in ("target", "neighbour", "global"):
        branch = outputs[name].float()
        loss = loss + (1 - alpha) * F.mse_loss(branch, truth) + alpha * F.mse_loss(fused, branch)
    return loss
