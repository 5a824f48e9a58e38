"""``stflow`` baseline: STFlow, whole-slide flow matching on frozen spot features (see :class:`STFlowPredictor`)."""

from baselines.stflow.config import PAPER, SMALL, STFlowConfig
from baselines.stflow.predictor import STFlowPredictor

__all__ = ["PAPER", "SMALL", "STFlowConfig", "STFlowPredictor"]
