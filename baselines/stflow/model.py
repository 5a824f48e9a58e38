"""STFlow's denoiser: a spatial transformer with local, frame-averaged attention over a slide's spots."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from baselines.stem.model import TimeEmbedding


def knn_table(coords: np.ndarray, k: int) -> np.ndarray:
    """int64 (n, min(k, n)): each spot's ``k`` nearest spots of the same slide, itself first
    (Euclidean on ``coords`` (n, 2); ties as scipy's KD-tree orders them)."""
    from scipy.spatial import cKDTree

    n = len(coords)
    k = min(k, n)
    _, idx = cKDTree(np.asarray(coords, np.float64)).query(coords, k=min(k + 1, n))
    idx = np.asarray(idx, np.int64).reshape(n, -1)
    table = np.empty((n, k), np.int64)
    for i in range(n):  # itself first, then its nearest others (another spot may share its position)
        table[i] = [i, *idx[i][idx[i] != i][: k - 1]]
    return table


def frame_features(coords: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """float32 (n, 4, k, 3): the relative positions of each spot's neighbours in the 4 frames of
    frame averaging, with their distance.

    A spot's frame comes from its neighbourhood: the eigenvectors of the 2 x 2 covariance of the
    neighbours' offsets from the spot, with the 4 sign choices of the two axes (Puny et al.'s
    frame averaging in 2-d, as STFlow uses it). A function of these features averaged over the 4
    frames is invariant to rotations and reflections of the slide and to translations (offsets).

    Args:
        coords: float (n, 2) spot centres, in any unit (STFlow's inputs: spot spacings).
        neighbours: int64 (n, k) from :func:`knn_table`.
    """
    rel = coords[neighbours] - coords[:, None, :]  # (n, k, 2)
    centred = rel - rel.mean(axis=1, keepdims=True)
    cov = np.einsum("nki,nkj->nij", centred, centred) / max(1, rel.shape[1])
    _, vecs = np.linalg.eigh(cov)  # (n, 2, 2), columns = axes
    signs = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], np.float64)
    frames = vecs[:, None, :, :] * signs[None, :, None, :]  # (n, 4, 2, 2)
    projected = np.einsum("nkd,nfde->nfke", rel, frames)  # (n, 4, k, 2)
    dist = np.broadcast_to(np.linalg.norm(rel, axis=-1)[:, None, :, None], (*projected.shape[:3], 1))
    return np.concatenate([projected, dist], axis=-1).astype(np.float32)


class SpatialAttention(nn.Module):
    """Multi-head attention of each spot over its k neighbours, with a learned, frame-averaged
    spatial bias per head: ``MLP(frame features)`` averaged over the 4 frames."""

    def __init__(self, hidden: int, heads: int, dropout: float, attn_dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.bias = nn.Sequential(nn.Linear(3, hidden), nn.GELU(), nn.Linear(hidden, heads))
        self.attn_drop = nn.Dropout(attn_dropout)
        self.out = nn.Sequential(nn.Linear(hidden, hidden), nn.Dropout(dropout))

    def forward(self, h: torch.Tensor, neighbours: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        n, d = h.shape
        q, k, v = self.qkv(self.norm(h)).view(n, 3, self.heads, d // self.heads).unbind(1)
        kn, vn = k[neighbours], v[neighbours]  # (n, k, heads, dh)
        logits = torch.einsum("nhd,nkhd->nhk", q, kn) / (d // self.heads) ** 0.5
        logits = logits + self.bias(frames).mean(dim=1).permute(0, 2, 1)
        weights = self.attn_drop(logits.softmax(dim=-1))
        return self.out(torch.einsum("nhk,nkhd->nhd", weights, vn).reshape(n, d))


class STFlowNet(nn.Module):
    """(Y_t (n, G), t, spot features (n, D), neighbour table, frame features) -> Y_1 estimate (n, G).

    ``h = Linear(D)(features) + Linear(G)(Y_t) + TimeEmbedding(t)``; ``depth`` blocks of
    spatial attention and a GELU MLP (pre-norm, residual); output ``LayerNorm -> Linear(G)``,
    whose weight starts at 0 and bias at the training mean (so the untrained network predicts
    the ``mean`` baseline whatever Y_t is).
    """

    def __init__(
        self, n_genes: int, feature_dim: int, hidden: int, depth: int, heads: int,
        mlp_ratio: float, dropout: float, attn_dropout: float,
    ) -> None:
        super().__init__()
        self.feature_embed = nn.Linear(feature_dim, hidden)
        self.expression_embed = nn.Linear(n_genes, hidden)
        self.time_embed = TimeEmbedding(hidden)
        self.attention = nn.ModuleList(SpatialAttention(hidden, heads, dropout, attn_dropout) for _ in range(depth))
        width = int(hidden * mlp_ratio)
        self.mlps = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, width), nn.GELU(), nn.Dropout(dropout),
                          nn.Linear(width, hidden), nn.Dropout(dropout))
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, n_genes)

    def forward(
        self, y_t: torch.Tensor, t: torch.Tensor, features: torch.Tensor, neighbours: torch.Tensor, frames: torch.Tensor
    ) -> torch.Tensor:
        """``t``: float32 (1,), the flow time of the whole slide, in [0, 1]."""
        h = self.feature_embed(features) + self.expression_embed(y_t) + self.time_embed(t * 1000.0)
        for attention, mlp in zip(self.attention, self.mlps, strict=True):
            h = h + attention(h, neighbours, frames)
            h = h + mlp(h)
        return self.head(self.norm(h))
