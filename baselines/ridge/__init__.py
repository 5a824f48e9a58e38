"""``ridge`` baseline: the HEST-Benchmark linear probe (see :class:`RidgePredictor`)."""

from baselines.ridge.predictor import RidgePredictor

__all__ = ["RidgePredictor"]
