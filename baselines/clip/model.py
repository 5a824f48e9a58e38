"""The ``clip`` baseline's network: GenST's two autoencoders (imported from :mod:`genst`, not
copied) aligned by a symmetric InfoNCE loss on their coefficient vectors c_i and c_g."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from baselines.clip.config import CLIPConfig
from genst.modules import GeneAutoencoder, GeneOutput, ImageAutoencoder, ImageOutput


class CLIPModel(nn.Module):
    """``gene``: GenST's gene autoencoder; ``image``: GenST's image autoencoder."""

    def __init__(self, n_genes: int, cfg: CLIPConfig) -> None:
        super().__init__()
        self.gene = GeneAutoencoder(n_genes, cfg)
        self.image = ImageAutoencoder(cfg)

    def forward(self, images: torch.Tensor, expression: torch.Tensor) -> tuple[ImageOutput, GeneOutput]:
        return self.image(images), self.gene(expression)


def info_nce(image_embeddings: torch.Tensor, gene_embeddings: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE with hard identity targets (CLIP, Radford et al., 2021).

    logits = normalise(image) @ normalise(gene)^T / T (B, B); the loss is the mean of the
    cross-entropy of each row against its own column (image -> gene) and of each column
    against its own row (gene -> image).

    Args:
        image_embeddings, gene_embeddings: (B, D) of the same spots, in the same order.
    """
    image = F.normalize(image_embeddings.float(), dim=1)
    gene = F.normalize(gene_embeddings.float(), dim=1)
    logits = image @ gene.T / temperature
    targets = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
