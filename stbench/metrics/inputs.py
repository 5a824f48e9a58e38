"""Input checks shared by the metric functions; failures raise :class:`StbenchError`."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from stbench.errors import StbenchError


def check_pair(y_true: object, y_pred: object, n_genes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate a true/predicted pair as (spots, genes) float arrays of equal shape.

    Float32 and float64 arrays are used as they are (no copy); other integer or float
    types become float64.
    """
    arrays = []
    for name, value in (("y_true", y_true), ("y_pred", y_pred)):
        array = np.asarray(value)
        if array.dtype not in (np.float32, np.float64):
            if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
                raise StbenchError(f"{name} must hold real numbers, got dtype {array.dtype}.")
            array = array.astype(np.float64)
        if array.ndim != 2:
            raise StbenchError(f"{name} must be a 2-D (spots, genes) array, got shape {array.shape}.")
        arrays.append(array)
    y_true, y_pred = arrays
    if y_true.shape != y_pred.shape:
        raise StbenchError(f"y_true and y_pred shapes differ: {y_true.shape} vs {y_pred.shape}.")
    if y_true.shape[1] == 0:
        raise StbenchError("Cannot compute metrics on zero genes.")
    if n_genes is not None and y_true.shape[1] != n_genes:
        raise StbenchError(f"Expected {n_genes} genes, got {y_true.shape[1]}.")
    return y_true, y_pred


def check_ks(ks: Iterable[int]) -> tuple[int, ...]:
    """The distinct top-k sizes in increasing order; each must be a positive integer."""
    ks = tuple(ks)
    if not ks or any(isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1 for k in ks):
        raise StbenchError(f"ks must be one or more positive integers, got {ks!r}.")
    return tuple(sorted({int(k) for k in ks}))
