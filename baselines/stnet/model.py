"""ST-Net's network (He et al., Nature Biomedical Engineering 2020) and dihedral TTA."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from baselines.stnet.config import STNetConfig
from stbench.torchkit.backbones import create_backbone
from stbench.torchkit.heads import init_mean_head


class STNetModel(nn.Module):
    """DenseNet features (B, 3, S, S) -> (B, F) -> linear head -> (B, G) log1p expression.

    The head starts with zero weight and the training mean expression as bias, so the
    untrained model predicts the mean and training learns the deviations from it.
    """

    def __init__(self, n_genes: int, cfg: STNetConfig, mean_expression: np.ndarray) -> None:
        super().__init__()
        self.backbone = create_backbone(cfg.backbone, pretrained=cfg.pretrained, num_classes=0, **cfg.backbone_kwargs)
        self.head = nn.Linear(self.backbone.num_features, n_genes)
        init_mean_head(self.head, mean_expression)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))


def dihedral(images: torch.Tensor, index: int) -> torch.Tensor:
    """Transform ``index`` in 0..7 of the dihedral group: rotate by (index % 4) * 90 degrees,
    then flip horizontally when index >= 4. (B, C, H, W) -> (B, C, H, W)."""
    out = torch.rot90(images, index % 4, dims=(-2, -1))
    return out.flip(-1) if index >= 4 else out


def predict_dihedral_mean(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Test-time augmentation: the mean of ``model`` over the 8 dihedral transforms of each
    image. (B, 3, S, S) -> (B, G)."""
    return torch.stack([model(dihedral(images, i)) for i in range(8)]).mean(dim=0)
