"""The one check of a prediction, wherever it comes from: a model in ``stbench run``
(:func:`stbench.results.scoring.check_prediction`), a file given to ``stbench score``
(:func:`stbench.submit.score.check_submitted`) or predictions saved beside a result
(:func:`stbench.results.rescore.check_saved`).

A prediction of one slide is a float (spots x genes) array of log1p expression with finite
values, on the slide's spots (barcodes) and the cohort's panel (genes). The functions return
phrases ("shape (3, 2) instead of (4, 2)") that each caller puts in its own one-sentence message;
the metric functions check their own inputs (:mod:`stbench.metrics.inputs`).
"""

from __future__ import annotations

import numpy as np

MAX_ABS_PREDICTION = 1e4
"""Largest magnitude a predicted value may have. Predictions are log1p expression (log1p of a
billion counts is 20.7), and they are kept as float16, whose largest finite value is 65504:
every value within this bound stays finite, and within 1e-3 relative, in the kept copy, so the
check made here holds for the stored values too."""


def matrix_problems(x: object, shape: tuple[int, int]) -> list[str]:
    """What is wrong with ``x`` as predictions of ``shape`` (spots, genes): [] when it is a 2-D
    float array of that shape with finite values within ±:data:`MAX_ABS_PREDICTION`, else one
    phrase per problem."""
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        return [f"no 2-D spots x genes array but {getattr(x, 'shape', type(x).__name__)}"]
    out = []
    if x.shape != tuple(shape):
        out.append(f"shape {x.shape} instead of {tuple(shape)}")
    if not np.issubdtype(x.dtype, np.floating):
        out.append(f"dtype {x.dtype} instead of floats (log1p expression)")
    elif not np.isfinite(x).all():
        out.append(f"{int((~np.isfinite(x)).sum())} NaN or infinite value(s)")
    elif (big := int((np.abs(x) > MAX_ABS_PREDICTION).sum())):
        out.append(f"{big} value(s) beyond ±{MAX_ABS_PREDICTION:g}, e.g. {float(x.flat[np.argmax(np.abs(x))]):g} "
                   "(log1p expression; kept as float16)")
    return out


def names_problem(what: str, given: np.ndarray, expected: np.ndarray) -> str | None:
    """A phrase when the ``given`` names (barcodes or genes) are not a reordering of ``expected``."""
    values, counts = np.unique(given, return_counts=True)
    if (counts > 1).any():
        return f"{what} {str(values[counts > 1][0])!r} appears more than once ({int((counts > 1).sum())} repeated)"
    missing = np.setdiff1d(expected, given)
    extra = np.setdiff1d(given, expected)
    if len(missing):
        return f"{len(missing)} {what}(s) of the cohort are missing, e.g. {str(missing[0])!r}"
    if len(extra):
        return f"{len(extra)} {what}(s) are not in the cohort, e.g. {str(extra[0])!r}"
    return None
