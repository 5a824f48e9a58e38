"""GenST's configuration: one dataclass, two profiles (``small`` for CPUs, ``paper``).

Every value the paper leaves open is a field here; ``genst/README.md`` gives the reason for
each choice. The fields are grouped in three layers so that the models built from GenST's
parts share exactly the same settings:

* :class:`GeneBranchConfig`: the gene autoencoder and the training schedule (gene2gene);
* :class:`AutoencodersConfig`: plus the image autoencoder and its input pipeline (clip);
* :class:`GenSTConfig`: plus GenST's cross-modal loss weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GeneBranchConfig:
    """The gene branch (MLP encoder -> coefficients c_g -> z_g = B_g c_g -> MLP decoder) and
    the optimisation schedule.

    Attributes:
        n_atoms: K, atoms in each codebook (length of the coefficient vectors c_g, c_i).
        gene_latent_dim: d_g, the gene codebook's atom dimension (B_g is d_g x K).
        gene_hidden: widths of the gene encoder's hidden layers; the decoder mirrors them.
        dropout: dropout after each hidden MLP layer.
        coefficients: ``"softmax"`` (the paper's equations: latents are continuous mixtures
            B c) or ``"vq"`` (the paper's wording, "two VQ-VAEs": each latent is snapped to its
            nearest atom, straight-through, with VQ-VAE's codebook + commitment loss).
        commitment: beta of the commitment loss (``"vq"`` only; 0.25 as in VQ-VAE).
        epochs: the maximum number of training epochs (see :mod:`stbench.torchkit.training`).
        patience: stop after this many epochs without a better validation score.
        val_score: the validation score of early stopping and model selection
            (``pearson_gene`` or ``mse``, :data:`stbench.torchkit.validation.VAL_SCORES`).
        batch_size: spots per optimisation step.
        lr: RAdam learning rate.
        weight_decay: RAdam weight decay (L2, torch's default coupling).
        n_top_genes: genes listed per codebook atom in ``codebook_top_genes.csv``.
    """

    n_atoms: int
    gene_latent_dim: int
    gene_hidden: tuple[int, ...]
    dropout: float
    coefficients: str
    commitment: float
    epochs: int
    patience: int
    val_score: str
    batch_size: int
    lr: float
    weight_decay: float
    n_top_genes: int


@dataclass(frozen=True)
class AutoencodersConfig(GeneBranchConfig):
    """Both GenST autoencoders: the gene branch plus the image branch and its input pipeline.

    Attributes:
        backbone: timm model name of the image encoder (a ResNet).
        pretrained: load ImageNet weights (``paper``) or start from random ones (``small``).
        backbone_kwargs: extra timm constructor arguments (``small`` narrows the ResNet).
        feature_stage: the ResNet stage whose output is the feature map F (4 = last stage,
            stride 32: 7 x 7 at 224 px; 1 = stride 4: 8 x 8 at 32 px).
        image_size: input side in pixels (patches are resized from 224).
        image_latent_dim: d_i, the image codebook's atom dimension (B_i is d_i x K).
        attention_dim: hidden width of the gated attention pooling.
        decoder_width: channels of the first transposed-conv stage; each later stage halves
            them (never below 16).
        augment: training augmentations, ``paper`` (Appendix A), ``dihedral`` or ``none``.
        preload: hold all resized patches in memory (``small``) instead of reading patches
            from the slides in the loader's workers (``paper``).
        colour: ``slide`` standardises each slide's colour from its own patches
            (:mod:`stbench.torchkit.data`; stbench's addition, see the README), ``raw`` keeps the pixels.
        n_reconstructions: patches per test slide in the reconstruction grid PNG.
    """

    backbone: str
    pretrained: bool
    backbone_kwargs: dict[str, Any]
    feature_stage: int
    image_size: int
    image_latent_dim: int
    attention_dim: int
    decoder_width: int
    augment: str
    preload: bool
    colour: str
    n_reconstructions: int


@dataclass(frozen=True)
class GenSTConfig(AutoencodersConfig):
    """GenST: both autoencoders plus the cross-modal loss weights of section 3.2.3.

    Attributes:
        w_cm: lambda_cm, weight of the cross-modal reconstruction loss L_cm.
        w_align: lambda_align, weight of the latent alignment loss L_align.
        w_coef: lambda_coef, weight of the coefficient cosine loss L_coef.
    """

    w_cm: float
    w_align: float
    w_coef: float


PAPER = GenSTConfig(
    n_atoms=256,
    gene_latent_dim=256,
    gene_hidden=(1024, 512),
    dropout=0.1,
    coefficients="softmax",
    commitment=0.25,
    epochs=100,
    patience=10,
    val_score="pearson_gene",
    batch_size=256,
    lr=1e-4,
    weight_decay=1e-4,
    n_top_genes=20,
    backbone="resnet50.tv_in1k",
    pretrained=True,
    backbone_kwargs={},
    feature_stage=4,
    image_size=224,
    image_latent_dim=256,
    attention_dim=128,
    decoder_width=256,
    augment="paper",
    preload=False,
    colour="slide",
    n_reconstructions=8,
    w_cm=1.0,
    w_align=0.1,
    w_coef=0.1,
)
"""The paper's settings (section 3.2, Appendix A) and our choices where it is silent; the paper's
100 epochs are the maximum, with early stopping after 10 epochs without a better validation
score. Budget: one GPU (bf16), hours per fold on a paper cohort."""

SMALL = GenSTConfig(
    n_atoms=32,
    gene_latent_dim=32,
    gene_hidden=(128,),
    dropout=0.1,
    coefficients="softmax",
    commitment=0.25,
    epochs=20,
    patience=3,
    val_score="pearson_gene",
    batch_size=64,
    lr=3e-3,
    weight_decay=1e-4,
    n_top_genes=10,
    backbone="resnet18",
    pretrained=False,
    backbone_kwargs={"stem_width": 16, "channels": (16, 32, 64, 128)},
    feature_stage=1,
    image_size=32,
    image_latent_dim=16,
    attention_dim=16,
    decoder_width=32,
    augment="dihedral",
    preload=True,
    colour="slide",
    n_reconstructions=8,
    w_cm=1.0,
    w_align=0.1,
    w_coef=0.1,
)
"""The same architecture at CPU size: a quarter-width ResNet-18 cut after stage 1 (stride 4),
32 px input, so F is 16 x 8 x 8; at most 20 epochs, early stopping after 3 without a better
validation score. Budget: 2 CPU cores, random weights; at most a few minutes per fold on ~1,000
training spots x ~14,000 genes, seconds per fold on the 937-gene demo."""

PROFILES: dict[str, GenSTConfig] = {"small": SMALL, "paper": PAPER}
