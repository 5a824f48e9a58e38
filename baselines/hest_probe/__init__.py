"""``hest-probe`` baseline: HEST-Benchmark's linear probe as HEST runs it (see :class:`HestProbePredictor`)."""

from baselines.hest_probe.predictor import HestProbePredictor

__all__ = ["HestProbePredictor"]
