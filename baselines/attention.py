"""Pre-norm transformer blocks shared by the slide-context baselines (TRIPLEX, HisToGene).

Both papers' code uses the same layout (the ``vit-pytorch`` style): ``x + Attention(LN(x))``
then ``x + FeedForward(LN(x))``, attention projections without bias, an output projection
with dropout, and ``Linear -> GELU -> Dropout -> Linear -> Dropout`` as the feed-forward part.
No dropout on the attention weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Multi-head attention of queries ``x_q`` (b, n, dim) over ``x_kv`` (b, m, dim) -> (b, n, dim).

    Args:
        dim: token width.
        heads: attention heads.
        dropout: dropout after the output projection.
        dim_head: width of one head; ``None``: ``dim // heads``.
    """

    def __init__(self, dim: int, heads: int, dropout: float, dim_head: int | None = None) -> None:
        super().__init__()
        dim_head = dim // heads if dim_head is None else dim_head
        if dim_head < 1:
            raise ValueError(f"{heads} heads do not fit in {dim} channels")
        self.heads, self.dim_head = heads, dim_head
        inner = heads * dim_head
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, 2 * inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(dropout))

    def forward(
        self,
        x_q: torch.Tensor,
        x_kv: torch.Tensor,
        bias: torch.Tensor | None = None,
        key_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``bias``: float (heads, n, m) added to the attention logits; ``key_mask``: bool (b, m),
        False keys are ignored (every row needs at least one True)."""
        b, n, _ = x_q.shape
        m = x_kv.shape[1]
        q = self.to_q(x_q).view(b, n, self.heads, self.dim_head).transpose(1, 2)
        k, v = self.to_kv(x_kv).view(b, m, 2, self.heads, self.dim_head).permute(2, 0, 3, 1, 4)
        logits_bias = None
        if bias is not None:
            logits_bias = bias.to(q.dtype).unsqueeze(0)
        if key_mask is not None:
            blocked = torch.zeros(b, 1, 1, m, dtype=q.dtype, device=q.device)
            blocked = blocked.masked_fill(~key_mask[:, None, None, :], float("-inf"))
            logits_bias = blocked if logits_bias is None else logits_bias + blocked
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=logits_bias)
        return self.to_out(out.transpose(1, 2).reshape(b, n, self.heads * self.dim_head))


class Block(nn.Module):
    """One pre-norm transformer layer; cross-attention when ``kv`` is given (one LayerNorm
    normalises queries and keys alike, as TRIPLEX's ``PreNorm`` does).

    Args:
        dim: token width.
        heads: attention heads.
        mlp_dim: hidden width of the feed-forward part.
        dropout: dropout of the attention output and the feed-forward part.
        dim_head: width of one head; ``None``: ``dim // heads``.
    """

    def __init__(self, dim: int, heads: int, mlp_dim: int, dropout: float, dim_head: int | None = None) -> None:
        super().__init__()
        self.norm_attn = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dropout, dim_head)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(
            nn.Linear(dim, mlp_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(mlp_dim, dim), nn.Dropout(dropout)
        )

    def forward(
        self,
        x: torch.Tensor,
        kv: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
        key_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(b, n, dim) -> (b, n, dim); ``kv`` (b, m, dim), ``bias`` and ``key_mask`` as in
        :meth:`Attention.forward`."""
        q = self.norm_attn(x)
        x = x + self.attn(q, q if kv is None else self.norm_attn(kv), bias, key_mask)
        return x + self.ff(self.norm_ff(x))
