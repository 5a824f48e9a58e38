"""GenST's networks (paper section 3.2): two dictionary autoencoders and their cross-modal link.

Shapes: B spots, G genes, K atoms, d_g / d_i atom dimensions, C backbone channels, h x w the
feature map (7 x 7 in ``paper``: stage 4 of a ResNet-50 at 224 px, stride 32; 8 x 8 in
``small``: stage 1, stride 4, at 32 px), S the image side in pixels.

* Gene branch (:class:`GeneAutoencoder`): x_g (B, G) -> MLP -> softmax -> c_g (B, K) ->
  z_g = B_g c_g (B, d_g) -> MLP -> x̂_g (B, G).
* Image branch (:class:`ImageAutoencoder`): x_i (B, 3, S, S) -> ResNet -> F (B, C, h, w);
  sub-branch 1: 1x1 conv -> softmax over K -> X (B, K, h, w), gated attention pooling
  c_i = sum_hw A_hw X_hw (B, K); sub-branch 2: 1x1 conv -> softmax over K -> C_i
  (B, K, h, w) -> Z_i = B_i C_i per position (B, d_i, h, w) -> transposed convs -> x̂_i
  (B, 3, S, S), in the normalised image space.
* Cross-modal (:class:`GenSTModel`): z_(i->g) = B_g c_i -> x̃_g = D_g(z_(i->g)); inference
  uses only this path (the gene encoder and the image decoder are not run).

Coefficients (setting ``coefficients``): ``"softmax"`` (default) follows the paper's equations,
every latent is a continuous mixture B c of the atoms. ``"vq"`` follows the paper's wording
("two VQ-VAEs", "discrete"): every latent B c (z_g, each position of Z_i, and z_(i->g)) is
replaced by its nearest atom with the straight-through estimator of VQ-VAE (van den Oord et al.,
2017), and each quantisation adds the codebook and commitment losses
||sg(z) - b||² + beta ||z - sg(b)||² (``commitment`` = beta) to the output's ``vq_loss``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genst.config import AutoencodersConfig, GeneBranchConfig
from stbench.errors import StbenchError
from stbench.torchkit.backbones import create_backbone
from stbench.torchkit.heads import init_mean_head


def mlp(in_dim: int, hidden: tuple[int, ...], out_dim: int, dropout: float) -> nn.Sequential:
    """Linear -> LayerNorm -> GELU -> Dropout per hidden width, then a final Linear."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), nn.LayerNorm(width), nn.GELU(), nn.Dropout(dropout)]
        in_dim = width
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


COEFFICIENTS = ("softmax", "vq")
"""How latents are formed from the coefficients (see the module docstring)."""


@dataclass
class Quantised:
    """A vector-quantised latent: ``latent`` (straight-through, same shape as the input),
    ``loss`` (scalar codebook + commitment loss), ``index`` (the chosen atom per vector)."""

    latent: torch.Tensor
    loss: torch.Tensor
    index: torch.Tensor


def vector_quantise(latent: torch.Tensor, atoms: torch.Tensor, commitment: float) -> Quantised:
    """Nearest-atom quantisation with the straight-through estimator (VQ-VAE).

    Args:
        latent: (B, d) vectors, or (B, d, h, w) maps quantised at every position.
        atoms: (K, d) codebook atoms.
        commitment: beta of the commitment term.
    Returns:
        The quantised latent (forward: the nearest atom; backward: identity into ``latent``), the
        loss mse(b, sg(z)) + beta mse(z, sg(b)) (means over elements), and the atom indices.
    """
    spatial = latent.dim() == 4
    flat = latent.permute(0, 2, 3, 1).reshape(-1, latent.shape[1]) if spatial else latent
    flat32, atoms32 = flat.float(), atoms.float()
    distances = (flat32 * flat32).sum(1, keepdim=True) - 2 * flat32 @ atoms32.T + (atoms32 * atoms32).sum(1)
    index = distances.argmin(dim=1)
    chosen = atoms32[index]
    loss = F.mse_loss(chosen, flat32.detach()) + commitment * F.mse_loss(flat32, chosen.detach())
    straight = flat32 + (chosen - flat32).detach()
    if spatial:
        b, d, h, w = latent.shape
        straight = straight.view(b, h, w, d).permute(0, 3, 1, 2)
        index = index.view(b, h, w)
    return Quantised(straight.to(latent.dtype), loss, index)


class Codebook(nn.Module):
    """A learnable dictionary B (d x K) whose columns are the atoms b^(k).

    ``forward(c)`` maps coefficients (..., K) to latents B c (..., d); :meth:`spatial` applies
    it at every position of a coefficient map (B, K, h, w) -> (B, d, h, w). :meth:`latent` does
    either and, with ``coefficients="vq"``, quantises the result (:func:`vector_quantise`).
    """

    def __init__(self, dim: int, n_atoms: int, coefficients: str = "softmax", commitment: float = 0.25) -> None:
        super().__init__()
        if coefficients not in COEFFICIENTS:
            raise StbenchError(f"Unknown coefficients {coefficients!r}; choose one of {', '.join(COEFFICIENTS)}.")
        self.weight = nn.Parameter(torch.randn(dim, n_atoms))
        self.discrete = coefficients == "vq"
        self.commitment = commitment

    def latent(self, coefficients: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, K) or (B, K, h, w) coefficients -> (latent (B, d) or (B, d, h, w), vq loss)."""
        latent = self.spatial(coefficients) if coefficients.dim() == 4 else self(coefficients)
        if not self.discrete:
            return latent, latent.new_zeros((), dtype=torch.float32)
        q = vector_quantise(latent, self.atoms, self.commitment)
        return q.latent, q.loss

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
    """Gene branch outputs: coefficients c_g (B, K), latent z_g (B, d_g), x̂_g (B, G), and the
    VQ loss of z_g (0 with softmax coefficients)."""

    coefficients: torch.Tensor
    latent: torch.Tensor
    reconstruction: torch.Tensor
    vq_loss: torch.Tensor


class GeneAutoencoder(nn.Module):
    """x_g (B, G) -> c_g = softmax(E_g(x_g)) (B, K) -> z_g = B_g c_g (B, d_g) -> D_g(z_g) (B, G)."""

    def __init__(self, n_genes: int, cfg: GeneBranchConfig) -> None:
        super().__init__()
        self.encoder = mlp(n_genes, cfg.gene_hidden, cfg.n_atoms, cfg.dropout)
        self.codebook = Codebook(cfg.gene_latent_dim, cfg.n_atoms, cfg.coefficients, cfg.commitment)
        self.decoder = mlp(cfg.gene_latent_dim, cfg.gene_hidden[::-1], n_genes, cfg.dropout)

    def encode(self, expression: torch.Tensor) -> torch.Tensor:
        """c_g: (B, G) -> (B, K), non-negative, summing to 1."""
        return self.encoder(expression).softmax(dim=-1)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """D_g: (B, d_g) -> (B, G), log1p space."""
        return self.decoder(latent)

    def forward(self, expression: torch.Tensor) -> GeneOutput:
        c = self.encode(expression)
        z, vq_loss = self.codebook.latent(c)
        return GeneOutput(c, z, self.decode(z), vq_loss)

    def init_output_bias(self, mean_expression: np.ndarray) -> None:
        """Start the decoder at the training mean expression (G,): output layer weight 0, bias
        the mean (:func:`~stbench.torchkit.heads.init_mean_head`), so the untrained branch and
        the untrained cross-modal path D_g(B_g c_i) both predict the ``mean`` baseline."""
        init_mean_head(self.decoder[-1], mean_expression)


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
    Z_i (B, d_i, h, w), x̂_i (B, 3, S, S), the VQ loss of Z_i (0 with softmax coefficients)."""

    coefficients: torch.Tensor
    attention: torch.Tensor
    spatial_coefficients: torch.Tensor
    spatial_latent: torch.Tensor
    reconstruction: torch.Tensor
    vq_loss: torch.Tensor


class ImageAutoencoder(nn.Module):
    """The image branch: encoder, image codebook B_i (d_i x K), transposed-conv decoder."""

    def __init__(self, cfg: AutoencodersConfig) -> None:
        super().__init__()
        self.encoder = ImageEncoder(cfg)
        self.codebook = Codebook(cfg.image_latent_dim, cfg.n_atoms, cfg.coefficients, cfg.commitment)
        self.decoder = ImageDecoder(cfg.image_latent_dim, self.encoder.feature_size, cfg.image_size, cfg.decoder_width)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """c_i only (sub-branch 1): (B, 3, S, S) -> (B, K). What inference needs."""
        return self.encoder.global_coefficients(self.encoder.features(images))[0]

    def forward(self, images: torch.Tensor) -> ImageOutput:
        features = self.encoder.features(images)
        c, attention = self.encoder.global_coefficients(features)
        spatial = self.encoder.spatial_coefficients(features)
        latent, vq_loss = self.codebook.latent(spatial)
        return ImageOutput(c, attention, spatial, latent, self.decoder(latent), vq_loss)


@dataclass
class GenSTOutput:
    """Everything the GenST loss needs: both branches plus the cross-modal path.

    Attributes:
        gene: gene branch outputs (c_g, z_g, x̂_g).
        image: image branch outputs (c_i, ..., x̂_i).
        cross_latent: z_(i->g) = B_g c_i, (B, d_g).
        cross_reconstruction: x̃_g = D_g(z_(i->g)), (B, G).
        vq_loss: the VQ losses of z_g, Z_i and z_(i->g) summed (0 with softmax coefficients).
    """

    gene: GeneOutput
    image: ImageOutput
    cross_latent: torch.Tensor
    cross_reconstruction: torch.Tensor
    vq_loss: torch.Tensor


class GenSTModel(nn.Module):
    """The bimodal dictionary autoencoder (``gene`` and ``image`` branches)."""

    def __init__(self, n_genes: int, cfg: AutoencodersConfig) -> None:
        super().__init__()
        self.gene = GeneAutoencoder(n_genes, cfg)
        self.image = ImageAutoencoder(cfg)

    def cross(self, image_coefficients: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """c_i (B, K) -> (z_(i->g) = B_g c_i (B, d_g), x̃_g = D_g(z_(i->g)) (B, G), its VQ loss)."""
        latent, vq_loss = self.gene.codebook.latent(image_coefficients)
        return latent, self.gene.decode(latent), vq_loss

    def forward(self, images: torch.Tensor, expression: torch.Tensor) -> GenSTOutput:
        gene = self.gene(expression)
        image = self.image(images)
        latent, prediction, cross_vq = self.cross(image.coefficients)
        return GenSTOutput(gene, image, latent, prediction, gene.vq_loss + image.vq_loss + cross_vq)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Inference from the image alone: x̃_g = D_g(B_g c_i), (B, 3, S, S) -> (B, G)."""
        return self.cross(self.image.encode(images))[1]
