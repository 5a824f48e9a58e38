"""``triplex``: TRIPLEX (Chung et al., CVPR 2024) on frozen features (see :class:`TriplexPredictor`)."""

from baselines.triplex.config import PAPER, PROFILES, SMALL, TriplexConfig
from baselines.triplex.model import TriplexNet, triplex_loss
from baselines.triplex.predictor import TriplexPredictor

__all__ = ["PAPER", "PROFILES", "SMALL", "TriplexConfig", "TriplexNet", "TriplexPredictor", "triplex_loss"]
