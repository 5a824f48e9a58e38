"""BLEEP's networks and contrastive loss (Xie et al., NeurIPS 2023)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from baselines.bleep.config import BLEEPConfig
from stbench.torchkit.backbones import create_backbone


class ProjectionHead(nn.Module):
    """BLEEP's projection: p = Linear(x); y = LayerNorm(p + Dropout(Linear(GELU(p)))).

    (B, in_dim) -> (B, out_dim).
    """

    def __init__(self, in_dim: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.projection = nn.Linear(in_dim, out_dim)
        self.fc = nn.Linear(out_dim, out_dim)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        projected = self.projection(x)
        return self.norm(projected + self.dropout(self.fc(F.gelu(projected))))


class BLEEPModel(nn.Module):
    """Image encoder + projection (B, 3, S, S) -> (B, P); expression projection (B, G) -> (B, P)."""

    def __init__(self, n_genes: int, cfg: BLEEPConfig) -> None:
        super().__init__()
        self.image_encoder = create_backbone(
            cfg.backbone, pretrained=cfg.pretrained, num_classes=0, **cfg.backbone_kwargs
        )
        self.image_head = ProjectionHead(self.image_encoder.num_features, cfg.projection_dim, cfg.dropout)
        self.spot_head = ProjectionHead(n_genes, cfg.projection_dim, cfg.dropout)

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, P)."""
        return self.image_head(self.image_encoder(images))

    def embed_spots(self, expression: torch.Tensor) -> torch.Tensor:
        """(B, G) log1p expression -> (B, P)."""
        return self.spot_head(expression)


def bleep_loss(image_embeddings: torch.Tensor, spot_embeddings: torch.Tensor, temperature: float) -> torch.Tensor:
    """BLEEP's CLIP-style loss with soft targets.

    logits = spot @ image^T / T; targets = softmax((image @ image^T + spot @ spot^T) / 2 / T)
    row-wise; loss = mean over spots of (CE(logits, targets) + CE(logits^T, targets^T)) / 2,
    with CE the cross-entropy against soft targets. Embeddings are not normalised (as BLEEP).

    Args:
        image_embeddings, spot_embeddings: (B, P) of the same spots, in the same order.
    """
    image_embeddings, spot_embeddings = image_embeddings.float(), spot_embeddings.float()
    logits = spot_embeddings @ image_embeddings.T / temperature
    similarity = (image_embeddings @ image_embeddings.T + spot_embeddings @ spot_embeddings.T) / 2
    targets = F.softmax(similarity / temperature, dim=-1)
    spots_loss = -(targets * F.log_softmax(logits, dim=-1)).sum(dim=1)
    images_loss = -(targets.T * F.log_softmax(logits.T, dim=-1)).sum(dim=1)
    return ((spots_loss + images_loss) / 2).mean()
