"""``bleep``: BLEEP (Xie et al., NeurIPS 2023), contrastive embeddings + top-k retrieval."""

from baselines.bleep.config import PAPER, PROFILES, SMALL, BLEEPConfig
from baselines.bleep.model import BLEEPModel, ProjectionHead, bleep_loss
from baselines.bleep.predictor import BLEEPPredictor
from baselines.bleep.retrieval import retrieve_mean, topk_similar

__all__ = [
    "PAPER",
    "PROFILES",
    "SMALL",
    "BLEEPConfig",
    "BLEEPModel",
    "BLEEPPredictor",
    "ProjectionHead",
    "bleep_loss",
    "retrieve_mean",
    "topk_similar",
]
