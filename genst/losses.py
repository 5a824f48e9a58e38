"""GenST's training objective (paper section 3.2):

    L = L_i + L_g + lambda_cm L_cm + lambda_align L_align + lambda_coef L_coef (+ L_vq)

with L_g = ||x̂_g - x_g||², L_i = ||x̂_i - x_i||², L_cm = ||x̃_g - x_g||²,
L_align = ||z_(i->g) - z_g||² and L_coef = 1 - cos(c_i, c_g).

Reduction: every squared-norm term is the mean over the batch *and* over the vector's
elements (torch's ``mse_loss``), i.e. ||a - b||² / n_elements averaged over spots; L_coef is
the mean over the batch. The paper calls its reconstruction losses "mean squared error", and
only per-element means keep the terms on comparable scales: with per-spot sums L_i would sum
3 x 224 x 224 = 150,528 pixel errors against ~4,000-14,000 gene errors in L_g, and the 0.1
weights on the latent terms would be meaningless. Gradients flow into both sides of L_align
and L_coef (the paper states no stop-gradient).

L_vq (only with ``coefficients="vq"``): the VQ-VAE codebook + commitment losses of every
quantised latent (:func:`genst.modules.vector_quantise`), weight 1; 0 otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genst.config import GenSTConfig
from genst.modules import GenSTOutput


def mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """||prediction - target||² as a mean over batch and elements (computed in float32)."""
    return F.mse_loss(prediction.float(), target.float())


def coefficient_loss(image_coefficients: torch.Tensor, gene_coefficients: torch.Tensor) -> torch.Tensor:
    """L_coef = 1 - cos(c_i, c_g), (B, K) each, averaged over the batch."""
    cos = F.cosine_similarity(image_coefficients.float(), gene_coefficients.float(), dim=1, eps=1e-8)
    return (1 - cos).mean()


def genst_loss_terms(out: GenSTOutput, images: torch.Tensor, expression: torch.Tensor) -> dict[str, torch.Tensor]:
    """The unweighted terms: ``image`` (L_i), ``gene`` (L_g), ``cm``, ``align``, ``coef``, ``vq``.

    Args:
        out: the model's outputs for the batch.
        images: x_i, the normalised (augmented) input images (B, 3, S, S): the target of x̂_i.
        expression: x_g (B, G), log1p.
    """
    return {
        "image": mse(out.image.reconstruction, images),
        "gene": mse(out.gene.reconstruction, expression),
        "cm": mse(out.cross_reconstruction, expression),
        "align": mse(out.cross_latent, out.gene.latent),
        "coef": coefficient_loss(out.image.coefficients, out.gene.coefficients),
        "vq": out.vq_loss,
    }


def genst_loss(terms: dict[str, torch.Tensor], cfg: GenSTConfig) -> torch.Tensor:
    """L = L_i + L_g + w_cm L_cm + w_align L_align + w_coef L_coef + L_vq (scalar)."""
    return (
        terms["image"]
        + terms["gene"]
        + cfg.w_cm * terms["cm"]
        + cfg.w_align * terms["align"]
        + cfg.w_coef * terms["coef"]
        + terms["vq"]
    )
