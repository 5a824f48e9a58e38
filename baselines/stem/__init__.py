"""``stem`` baseline: Stem, a conditional diffusion model on frozen patch features (see :class:`StemPredictor`)."""

from baselines.stem.config import PAPER, SMALL, StemConfig
from baselines.stem.predictor import StemPredictor

__all__ = ["PAPER", "SMALL", "StemConfig", "StemPredictor"]
