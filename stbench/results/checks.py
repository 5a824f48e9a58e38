"""The one check of a prediction, wherever it comes from: a model in ``stbench run``
(:func:`stbench.results.scoring.check_prediction`), a file given to ``stbench score``
(:func:`stbench.submit.score.check_submitted`) or predictions saved beside a result
(:func:`stbench.results.rescore.check_saved`); each rounds it to the stored dtype first
(:func:`checked_matrix`), so metrics are computed from exactly the values kept.

A prediction of one slide is a float (spots x genes) array of log1p expression with finite
values, on the slide's spots (barcodes) and the cohort's panel (genes). The functions return
phrases ("shape (3, 2) instead of (4, 2)") that each caller puts in its own one-sentence message;
the metric functions check their own inputs (:mod:`stbench.metrics.inputs`).
"""

from __future__ import annotations

import numpy as np

STORED_DTYPE = np.float16
"""The dtype predictions are kept in (:mod:`stbench.results.predictions`), and the values every
metric is computed from: a prediction is rounded to it once (:func:`checked_matrix`) before it is
checked, scored and written, so a result is a function of what it stores and ``stbench rescore``
of an untouched result changes nothing. float16, not float32: log1p expression needs about three
significant digits (a relative rounding under 5e-4, far below the gaps between models), and it
halves the kept predictions (the committed leaderboard's are ~68 MB in float16)."""

MAX_ABS_PREDICTION = 1e4
"""Largest magnitude a predicted value may have once rounded to :data:`STORED_DTYPE`. Predictions
are log1p expression (log1p of a billion counts is 20.7); float16's largest finite value is 65504,
so every value within this bound is finite in the stored copy, and a value beyond float16's range
(rounded to infinity) is refused by the same check."""


def as_stored(x: np.ndarray) -> np.ndarray:
    """``x`` (a float array) rounded to :data:`STORED_DTYPE`, returned as float32 holding exactly
    those values (float32 represents every float16); values beyond float16's range become ±inf.
    Idempotent: the stored values round to themselves."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(x).astype(STORED_DTYPE).astype(np.float32)


def checked_matrix(x: object, shape: tuple[int, int]) -> tuple[np.ndarray | None, list[str]]:
    """``x`` as predictions of ``shape`` (spots, genes), rounded to the stored dtype
    (:func:`as_stored`: float32 holding float16 values), and what is wrong with it.

    Returns ``(values, [])`` when ``x`` is a 2-D float array of that shape whose stored values are
    finite and within ±:data:`MAX_ABS_PREDICTION`; else ``(None, problems)``, one phrase each. The
    values are checked after the rounding, so what is checked is what is scored and kept.
    """
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        return None, [f"no 2-D spots x genes array but {getattr(x, 'shape', type(x).__name__)}"]
    out = []
    if x.shape != tuple(shape):
        out.append(f"shape {x.shape} instead of {tuple(shape)}")
    if not np.issubdtype(x.dtype, np.floating):
        out.append(f"dtype {x.dtype} instead of floats (log1p expression)")
        return None, out
    stored = as_stored(x)
    given = ~np.isfinite(stored) & ~np.isfinite(x)  # NaN or infinite before the rounding too
    if given.any():
        out.append(f"{int(given.sum())} NaN or infinite value(s)")
    elif (big := np.abs(stored) > MAX_ABS_PREDICTION).any():  # infinities from the rounding included
        out.append(f"{int(big.sum())} value(s) beyond ±{MAX_ABS_PREDICTION:g}, e.g. {float(x.flat[np.argmax(big)]):g} "
                   "(log1p expression; kept as float16)")
    return (None, out) if out else (stored, [])


def matrix_problems(x: object, shape: tuple[int, int]) -> list[str]:
    """What is wrong with ``x`` as predictions of ``shape`` (spots, genes), one phrase per problem
    ([] when it passes :func:`checked_matrix`)."""
    return checked_matrix(x, shape)[1]


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
