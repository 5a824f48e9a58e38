"""``deepspot`` baseline: DeepSpot on frozen UNI features (see :class:`DeepSpotPredictor`)."""

from baselines.deepspot.predictor import DeepSpotPredictor

__all__ = ["DeepSpotPredictor"]
