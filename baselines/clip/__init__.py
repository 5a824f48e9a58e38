"""``clip``: GenST's autoencoders aligned with a symmetric InfoNCE loss (after mclSTExp)."""

from baselines.clip.config import PAPER, PROFILES, SMALL, CLIPConfig
from baselines.clip.model import CLIPModel, info_nce
from baselines.clip.predictor import CLIPPredictor

__all__ = ["PAPER", "PROFILES", "SMALL", "CLIPConfig", "CLIPModel", "CLIPPredictor", "info_nce"]
