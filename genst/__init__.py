"""GenST: a generative cross-modal model predicting spatial transcriptomics from H&E
(Wood, Hu, Rittscher, Li; COMPAYL 2025), and gene2gene, its gene-only autoencoder (an oracle).

Registered as the stbench models ``genst`` and ``gene2gene``. The building blocks
(:class:`GeneAutoencoder`, :class:`ImageAutoencoder`, :class:`GenSTModel`) are public so that
other models (the ``clip`` baseline) reuse them. See ``genst/README.md`` for every choice the
paper leaves open.
"""

from genst.config import PAPER, PROFILES, SMALL, AutoencodersConfig, GeneBranchConfig, GenSTConfig
from genst.modules import GeneAutoencoder, GenSTModel, ImageAutoencoder
from genst.predictor import Gene2GenePredictor, GenSTPredictor

__all__ = [
    "PAPER",
    "PROFILES",
    "SMALL",
    "AutoencodersConfig",
    "GenSTConfig",
    "GenSTModel",
    "GenSTPredictor",
    "Gene2GenePredictor",
    "GeneAutoencoder",
    "GeneBranchConfig",
    "ImageAutoencoder",
]
