"""stbench: a benchmark and leaderboard for predicting spatial transcriptomics from H&E.

Public API: :class:`Predictor` (the model interface), :class:`SpotData` and :class:`Slide`
(what models see), :func:`create_predictor` / :func:`list_predictors` (the plugin registry),
:func:`check_predictor` (conformance checks for plugins), and :mod:`stbench.metrics`.
"""

from importlib.metadata import PackageNotFoundError, version

from stbench.check import check_predictor
from stbench.data.spots import Slide, SpotData
from stbench.predictor import Predictor
from stbench.registry import available as list_predictors
from stbench.registry import create_predictor

try:
    __version__ = version("stbench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "Predictor",
    "Slide",
    "SpotData",
    "check_predictor",
    "create_predictor",
    "list_predictors",
    "__version__",
]
