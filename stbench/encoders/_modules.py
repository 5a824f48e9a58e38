"""The torch modules around a backbone: token pooling, and CONCH v1.5's vision tower.

:class:`PooledEncoder` turns a timm or transformers backbone into (b, 3, h, w) -> (b, dim) with
the entry's pooling (see :data:`stbench.encoders._config.POOLINGS`). :class:`ConchVisionTower`
is CONCH v1.5's image encoder as its authors define it (TITAN's ``conch_v1_5`` and TRIDENT's
``model_zoo/conchv1_5/conchv1_5.py``, github.com/mahmoodlab/TRIDENT at a91fa849): a ViT-L/16
trunk, an attentional pooler with one learned 768-d query attending (8 heads) over the
LayerNorm'd 1024-d tokens (class token included), then LayerNorm(768). Parameter names follow
the published checkpoint (``trunk.*``, ``attn_pool_contrast.*``, ``ln_contrast.*``), so it loads
strictly.
"""

from __future__ import annotations

import torch
from torch import nn


class PooledEncoder(nn.Module):
    """``backbone`` plus pooling: float (b, 3, h, w) -> float (b, dim).

    Args:
        backbone: the network.
        source: what ``backbone`` returns: ``pooled`` (already (b, dim): timm's own head with
            ``num_classes=0``, or :class:`ConchVisionTower`), ``tokens`` (timm ViT:
            ``forward_features`` gives (b, n, d) after the final norm), ``hidden`` (transformers:
            ``last_hidden_state``, (b, n, d) after the final norm), ``feature_map`` (a timm
            ``features_only`` CNN: [(b, c, h', w')]).
        pooling: ``cls``, ``cls+mean``, ``mean`` or ``avgpool`` (the latter two for
            ``feature_map``/``tokens`` sources only).
        prefix_tokens: class + register tokens before the patch tokens.
    """

    def __init__(self, backbone: nn.Module, source: str, pooling: str, prefix_tokens: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.source = source
        self.pooling = pooling
        self.prefix_tokens = prefix_tokens

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.source == "pooled":
            return self.backbone(x)
        if self.source == "feature_map":
            (feature_map,) = self.backbone(x)
            return feature_map.mean(dim=(2, 3))
        if self.source == "hidden":
            tokens = self.backbone(pixel_values=x).last_hidden_state
        else:
            tokens = self.backbone.forward_features(x)
        patches = tokens[:, self.prefix_tokens :]
        if self.pooling == "cls":
            return tokens[:, 0]
        if self.pooling == "mean":
            return patches.mean(dim=1)
        return torch.cat([tokens[:, 0], patches.mean(dim=1)], dim=-1)


class AttentionalPooler(nn.Module):
    """Cross-attention of ``n_queries`` learned queries over a token sequence (CoCa/CONCH style).

    (b, n, context_dim) -> (b, n_queries, d_model); no biases; queries and keys LayerNorm'd first.
    """

    def __init__(self, d_model: int, context_dim: int, n_head: int = 8, n_queries: int = 1) -> None:
        super().__init__()
        self.query = nn.Parameter(torch.randn(n_queries, d_model))
        self.heads = n_head
        self.ln_k = nn.LayerNorm(context_dim)
        self.ln_q = nn.LayerNorm(d_model)
        self.to_q = nn.Linear(d_model, d_model, bias=False)
        self.to_kv = nn.Linear(context_dim, 2 * d_model, bias=False)
        self.to_out = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q = self.to_q(self.ln_q(self.query)).expand(b, -1, -1)
        k, v = self.to_kv(self.ln_k(x)).chunk(2, dim=-1)

        def heads(t: torch.Tensor) -> torch.Tensor:  # (b, m, h * e) -> (b, h, m, e)
            return t.reshape(b, t.shape[1], self.heads, -1).transpose(1, 2)

        out = nn.functional.scaled_dot_product_attention(heads(q), heads(k), heads(v))
        return self.to_out(out.transpose(1, 2).reshape(b, -1, q.shape[-1]))


class ConchVisionTower(nn.Module):
    """CONCH v1.5's image encoder: ``trunk`` tokens -> attentional pooler -> LayerNorm, (b, 768)."""

    def __init__(self, trunk: nn.Module, width: int = 768) -> None:
        super().__init__()
        self.trunk = trunk
        self.attn_pool_contrast = AttentionalPooler(width, trunk.embed_dim, n_head=8, n_queries=1)
        self.ln_contrast = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln_contrast(self.attn_pool_contrast(self.trunk.forward_features(x))[:, 0])
