"""``uni-mlp`` baseline: an MLP on frozen UNI features (see :class:`UNIMLPPredictor`)."""

from baselines.uni_mlp.predictor import UNIMLPPredictor

__all__ = ["UNIMLPPredictor"]
