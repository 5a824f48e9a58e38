"""Stem's denoiser: a DiT over gene tokens, conditioned on the diffusion time and the spot's features."""

from __future__ import annotations

import math

import torch
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """float32 (b, dim) sinusoidal embedding of the (integer or real) times ``t`` (b,)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return nn.functional.pad(emb, (0, dim % 2))


class TimeEmbedding(nn.Module):
    """Sinusoidal features (256) -> Linear -> SiLU -> Linear (DiT's ``TimestepEmbedder``)."""

    def __init__(self, hidden: int, frequencies: int = 256) -> None:
        super().__init__()
        self.frequencies = frequencies
        self.mlp = nn.Sequential(nn.Linear(frequencies, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(timestep_embedding(t, self.frequencies))


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale[:, None]) + shift[:, None]


class DiTBlock(nn.Module):
    """Self-attention and MLP over the tokens, each with adaLN-zero modulation by the condition."""

    def __init__(self, hidden: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        self.norm2 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        width = int(hidden * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(hidden, width), nn.GELU(approximate="tanh"), nn.Linear(width, hidden))
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 6 * hidden))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(c).chunk(6, dim=1)
        b, n, d = x.shape
        q, k, v = self.qkv(_modulate(self.norm1(x), shift1, scale1)).view(b, n, 3, self.heads, -1).unbind(2)
        attn = nn.functional.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        x = x + gate1[:, None] * self.proj(attn.transpose(1, 2).reshape(b, n, d))
        return x + gate2[:, None] * self.mlp(_modulate(self.norm2(x), shift2, scale2))


class StemNet(nn.Module):
    """x_t (b, G), t (b,), spot features (b, D) -> the diffusion target (b, G).

    Genes are cut into ``ceil(G / gene_patch)`` tokens of ``gene_patch`` consecutive genes (the
    last one zero-padded). A token's embedding is ``Linear(p) -> SiLU -> Linear`` of its values
    plus a learned per-token embedding; with ``gene_patch = 1`` this is Stem's
    ``GeneJointEmbedding`` (a count MLP plus a learned gene-name embedding). The condition is
    ``TimeEmbedding(t) + (Linear(D, D) -> SiLU -> Linear(D, hidden))(features)``; ``depth``
    DiT blocks; the final adaLN layer maps each token back to its ``gene_patch`` genes. The final
    linear layer and every adaLN modulation start at zero (DiT's and Stem's initialisation), so
    the untrained network outputs 0: with the ``x0`` target, the training-mean residual.
    """

    def __init__(
        self, n_genes: int, feature_dim: int, hidden: int, depth: int, heads: int, mlp_ratio: float, gene_patch: int
    ) -> None:
        super().__init__()
        self.n_genes, self.patch = n_genes, gene_patch
        self.n_tokens = -(-n_genes // gene_patch)
        self.value_embed = nn.Sequential(nn.Linear(gene_patch, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.token_embed = nn.Parameter(torch.empty(self.n_tokens, hidden))
        nn.init.kaiming_uniform_(self.token_embed, a=math.sqrt(5))
        self.time_embed = TimeEmbedding(hidden)
        self.cond_embed = nn.Sequential(
            nn.Linear(feature_dim, feature_dim), nn.SiLU(), nn.Linear(feature_dim, hidden)
        )
        self.blocks = nn.ModuleList(DiTBlock(hidden, heads, mlp_ratio) for _ in range(depth))
        self.final_norm = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.final_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2 * hidden))
        self.final = nn.Linear(hidden, gene_patch)
        for module in (*(b.modulation[-1] for b in self.blocks), self.final_modulation[-1], self.final):
            nn.init.zeros_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        pad = self.n_tokens * self.patch - self.n_genes
        tokens = nn.functional.pad(x, (0, pad)).view(b, self.n_tokens, self.patch)
        h = self.value_embed(tokens) + self.token_embed
        c = self.time_embed(t) + self.cond_embed(features)
        for block in self.blocks:
            h = block(h, c)
        shift, scale = self.final_modulation(c).chunk(2, dim=1)
        out = self.final(_modulate(self.final_norm(h), shift, scale))
        return out.reshape(b, -1)[:, : self.n_genes]
