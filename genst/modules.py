"""GenST's networks (paper section 3.2): two dictionary autoencoders and their cross-modal link.

Shapes: B spots, G genes, K atoms, d_g / d_i atom dimensions, C backbone channels, h x w the
feature map (7 x 7 in both profiles), S the image side in pixels.

* Gene branch (:class:`GeneAutoencoder`): x_g (B, G) -> MLP -> softmax -> c_g (B, K) ->
  z_g = B_g c_g (B, d_g) -> MLP -> x̂_g (B, G).
* Image branch (:class:`ImageAutoencoder`): x_i (B, 3, S, S) -> ResNet -> F (B, C, h, w);
  sub-branch 1: 1x1 conv -> softmax over K -> X (B, K, h, w), gated attention pooling
  c_i = sum_hw A_hw X_hw (B, K); sub-branch 2: 1x1 conv -> softmax over K -> C_i
  (B, K, h, w) -> Z_i = B_i C_i per position (B, d_i, h, w) -> transposed convs -> x̂_i
  (B, 3, S, S), in the normalised image space.
* Cross-modal (:class:`GenSTModel`): z_(i->g) = B_g c_i -> x̃_g = D_g(z_(i->g)); inference
  uses only this path (the gene encoder and the image decoder are not run).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genst.config import AutoencodersConfig, GeneBranchConfig
from stbench.torchkit.backbones import create_backbone


def mlp(in_dim: int, hidden: tuple[int, ...], out_dim: int, dropout: float) -> nn.Sequential:
    """Linear -> LayerNorm -> GELU -> Dropout per hidden width, then a final Linear."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), nn.LayerNorm(width), nn.GELU(), nn.Dropout(dropout)]
        in_dim = width
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


class Codebook(nn.Module):
    """A learnable dictionary B (d x K) whose columns are the atoms b^(k).

    ``forward(c)`` maps coefficients (..., K) to latents B c (..., d); :meth:`spatial` applies
    it at every position of a coefficient map (B, K, h, w) -> (B, d, h, w).
    """

    def __init__(self, dim: int, n_atoms: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(dim, n_atoms))

    def forward(self, coefficients: torch.Tensor) -> torch.Tensor:
        return coefficients @ self.weight.T

    def spatial(self, coefficients: torch.Tensor) -> torch.Tensor:
        return torch.einsum("dk,bkhw->bdhw", self.weight, coefficients)

    @property
    def atoms(self) -> torch.Tensor:
        """The atoms as rows: (K, d)."""
        return self.weight.T


@dataclass
class GeneOutput:
    """Gene branch outputs: coefficients c_g (B, K), latent z_g (B, d_g), x̂_g (B, G)."""

    coefficients: torch.Tensor
    latent: torch.Tensor
    reconstruction: torch.Tensor


class GeneAutoencoder(nn.Module):
    """x_g (B, G) -> c_g = softmax(E_g(x_g)) (B, K) -> z_g = B_g c_g (B, d_g) -> D_g(z_g) (B, G)."""

    def __init__(self, n_genes: int, cfg: GeneBranchConfig) -> None:
        super().__init__()
        self.encoder = mlp(n_genes, cfg.gene_hidden, cfg.n_atoms, cfg.dropout)
        self.codebook = Codebook(cfg.gene_latent_dim, cfg.n_atoms)
        self.decoder = mlp(cfg.gene_latent_dim, cfg.gene_hidden[::-1], n_genes, cfg.dropout)

    def encode(self, expression: torch.Tensor) -> torch.Tensor:
        """c_g: (B, G) -> (B, K), non-negative, summing to 1."""
        return self.encoder(expression).softmax(dim=-1)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """D_g: (B, d_g) -> (B, G), log1p space."""
        return self.decoder(latent)

    def forward(self, expression: torch.Tensor) -> GeneOutput:
        c = self.encode(expression)
        z = self.codebook(c)
        return GeneOutput(c, z, self.decode(z))

    def init_output_bias(self, mean_expression: np.ndarray) -> None:
        """Start the decoder's output bias at the training mean expression (G,)."""
        with torch.no_grad():
            self.decoder[-1].bias.copy_(torch.as_tensor(mean_expression, dtype=torch.float32))


class AttentionPool(nn.Module):
    """Gated attention pooling (Ilse et al., 2018) over the h x w positions.

    Scores a_hw = w^T (tanh(V f_hw) * sigmoid(U f_hw)) come from the backbone features F;
    A = softmax of the scores over the positions; the pooled vector is sum_hw A_hw X_hw.
    """

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.value = nn.Conv2d(channels, hidden, 1)
        self.gate = nn.Conv2d(channels, hidden, 1)
        self.score = nn.Conv2d(hidden, 1, 1)

    def forward(self, features: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """features (B, C, h, w), values X (B, K, h, w) -> pooled (B, K), weights A (B, h, w)."""
        scores = self.score(torch.tanh(self.value(features)) * torch.sigmoid(self.gate(features)))
        weights = scores.flatten(1).softmax(dim=1)
        pooled = torch.einsum("bp,bkp->bk", weights, values.flatten(2))
        return pooled, weights.view_as(scores[:, 0])


class ImageEncoder(nn.Module):
    """ResNet feature map F and the two coefficient heads (global c_i, spatial C_i)."""

    def __init__(self, cfg: AutoencodersConfig) -> None:
        super().__init__()
        self.backbone = create_backbone(
            cfg.backbone,
            pretrained=cfg.pretrained,
            features_only=True,
            out_indices=(cfg.feature_stage,),
            **cfg.backbone_kwargs,
        )
        channels = self.backbone.feature_info.channels()[-1]
        self.feature_size = math.ceil(cfg.image_size / self.backbone.feature_info.reduction()[-1])
        self.global_head = nn.Conv2d(channels, cfg.n_atoms, 1)
        self.attention = AttentionPool(channels, cfg.attention_dim)
        self.spatial_head = nn.Conv2d(channels, cfg.n_atoms, 1)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """F: (B, 3, S, S) -> (B, C, h, w)."""
        return self.backbone(images)[-1]

    def global_coefficients(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sub-branch 1: F -> (c_i (B, K), attention A (B, h, w))."""
        return self.attention(features, self.global_head(features).softmax(dim=1))

    def spatial_coefficients(self, features: torch.Tensor) -> torch.Tensor:
        """Sub-branch 2: F -> C_i (B, K, h, w), a softmax over K at each position."""
        return self.spatial_head(features).softmax(dim=1)


class ImageDecoder(nn.Module):
    """Z_i (B, d_i, h, w) -> x̂_i (B, 3, S, S) by transposed convolutions.

    Each stage doubles the side: ConvTranspose2d(k=4, s=2, p=1) -> BatchNorm -> ReLU, with
    ``width``, ``width/2``, ... channels (at least 16); a 3x3 conv gives the 3 channels. When
    h * 2^stages overshoots S, the output is resized (bilinear) to S.
    """

    def __init__(self, latent_dim: int, feature_size: int, image_size: int, width: int) -> None:
        super().__init__()
        self.image_size = image_size
        stages = max(0, math.ceil(math.log2(image_size / feature_size)))
        layers: list[nn.Module] = []
        channels = latent_dim
        for j in range(stages):
            out = max(width // 2**j, 16)
            layers += [nn.ConvTranspose2d(channels, out, 4, stride=2, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
            channels = out
        layers.append(nn.Conv2d(channels, 3, 3, padding=1))
        self.layers = nn.Sequential(*layers)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        out = self.layers(latent)
        if out.shape[-1] != self.image_size:
            out = F.interpolate(out, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        return out


@dataclass
class ImageOutput:
    """Image branch outputs: c_i (B, K), attention A (B, h, w), C_i (B, K, h, w),
    Z_i (B, d_i, h, w), x̂_i (B, 3, S, S)."""

    coefficients: torch.Tensor
    attention: torch.Tensor
    spatial_coefficients: torch.Tensor
    spatial_latent: torch.Tensor
    reconstruction: torch.Tensor


class ImageAutoencoder(nn.Module):
    """The image branch: encoder, image codebook B_i (d_i x K), transposed-conv decoder."""

    def __init__(self, cfg: AutoencodersConfig) -> None:
        super().__init__()
        self.encoder = ImageEncoder(cfg)
        self.codebook = Codebook(cfg.image_latent_dim, cfg.n_atoms)
        self.decoder = ImageDecoder(cfg.image_latent_dim, self.encoder.feature_size, cfg.image_size, cfg.decoder_width)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """c_i only (sub-branch 1): (B, 3, S, S) -> (B, K). What inference needs."""
        return self.encoder.global_coefficients(self.encoder.features(images))[0]

    def forward(self, images: torch.Tensor) -> ImageOutput:
        features = self.encoder.features(images)
        c, attention = self.encoder.global_coefficients(features)
        spatial = self.encoder.spatial_coefficients(features)
        latent = self.codebook.spatial(spatial)
        return ImageOutput(c, attention, spatial, latent, self.decoder(latent))


@dataclass
class GenSTOutput:
    """Everything the GenST loss needs: both branches plus the cross-modal path.

    Attributes:
        gene: gene branch outputs (c_g, z_g, x̂_g).
        image: image branch outputs (c_i, ..., x̂_i).
        cross_latent: z_(i->g) = B_g c_i, (B, d_g).
        cross_reconstruction: x̃_g = D_g(z_(i->g)), (B, G).
    """

    gene: GeneOutput
    image: ImageOutput
    cross_latent: torch.Tensor
    cross_reconstruction: torch.Tensor


class GenSTModel(nn.Module):
    """The bimodal dictionary autoencoder (``gene`` and ``image`` branches)."""

    def __init__(self, n_genes: int, cfg: AutoencodersConfig) -> None:
        super().__init__()
        self.gene = GeneAutoencoder(n_genes, cfg)
        self.image = ImageAutoencoder(cfg)

    def cross(self, image_coefficients: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """c_i (B, K) -> (z_(i->g) = B_g c_i (B, d_g), x̃_g = D_g(z_(i->g)) (B, G))."""
        latent = self.gene.codebook(image_coefficients)
        return latent, self.gene.decode(latent)

    def forward(self, images: torch.Tensor, expression: torch.Tensor) -> GenSTOutput:
        gene = self.gene(expression)
        image = self.image(images)
        latent, prediction = self.cross(image.coefficients)
        return GenSTOutput(gene, image, latent, prediction)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Inference from the image alone: x̃_g = D_g(B_g c_i), (B, 3, S, S) -> (B, G)."""
        return self.cross(self.image.encode(images))[1]
