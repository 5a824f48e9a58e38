"""``histogene``: HisToGene (Pang et al., 2021), a ViT over a slide's spots (see :class:`HisToGenePredictor`)."""

from baselines.histogene.config import PAPER, PROFILES, SMALL, HisToGeneConfig
from baselines.histogene.model import HisToGeneNet
from baselines.histogene.predictor import HisToGenePredictor

__all__ = ["PAPER", "PROFILES", "SMALL", "HisToGeneConfig", "HisToGeneNet", "HisToGenePredictor"]
