"""Correlation from centred moments, with the benchmark's rules for constant vectors."""

from __future__ import annotations

import numpy as np


def correlation(
    cross: np.ndarray,
    var_true: np.ndarray,
    var_pred: np.ndarray,
    true_constant: np.ndarray,
    pred_constant: np.ndarray,
) -> np.ndarray:
    """Pearson correlation from centred sums, one value per vector pair.

    ``cross`` is sum((t - mean t) * (p - mean p)); ``var_true``/``var_pred`` are the
    centred sums of squares; all are 1-D float64 of the same length.  Constancy is
    passed in explicitly (decided exactly, e.g. min == max) rather than read off a
    variance that rounding can leave slightly above zero.

    Returns the correlations clipped to [-1, 1], with NaN where the TRUE vector is
    constant (excluded: there is nothing to correlate with) and 0 where only the
    PREDICTED vector is constant (it carries no information, so it scores 0 instead of
    being excluded).
    """
    denom = np.sqrt(var_true * var_pred)
    scored = ~true_constant & ~pred_constant & (denom > 0)
    r = np.divide(cross, denom, out=np.zeros_like(cross), where=scored)
    np.clip(r, -1.0, 1.0, out=r)
    r[true_constant] = np.nan
    return r
