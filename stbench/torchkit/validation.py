"""Validation scores of the trained regression models: what the shared recipe
(:func:`stbench.torchkit.training.fit_epochs`) selects epochs and stops early on.

:func:`regression_validator` turns a ``model -> prediction`` function and the validation truth
into the ``model -> score`` (higher is better) that :func:`~stbench.torchkit.training.fit_epochs`
calls before training and after every epoch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from stbench.errors import StbenchError


def mean_gene_pearson(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean over genes of the Pearson correlation between predicted and true columns.

    Args:
        pred, true: float (n_spots, n_genes).
    Returns:
        The mean; a gene whose prediction or truth is constant counts as 0 (no information),
        so the score is always finite. Used for model selection on the validation set.
    """
    p = pred.astype(np.float64) - pred.mean(axis=0, dtype=np.float64)
    t = true.astype(np.float64) - true.mean(axis=0, dtype=np.float64)
    denom = np.sqrt((p * p).sum(axis=0) * (t * t).sum(axis=0))
    corr = np.divide((p * t).sum(axis=0), denom, out=np.zeros(p.shape[1]), where=denom > 0)
    return float(corr.mean()) if corr.size else 0.0


VAL_SCORES = ("pearson_gene", "mse")
"""Validation scores of the regression models: ``pearson_gene`` = mean per-gene Pearson on the
validation spots (:func:`mean_gene_pearson`); ``mse`` = minus the mean squared error (log1p)."""


FLOOR_L1_TOLERANCE = 0.005
"""How far (log1p L1) above the mean's validation L1 a guarded epoch may be: the sanity laws'
tolerance (``l1 <= mean + 0.005``)."""


def regression_validator(
    predict: Callable[[torch.nn.Module], np.ndarray],
    truth: np.ndarray,
    score: str,
    floor: np.ndarray | None = None,
) -> Callable[[torch.nn.Module], float]:
    """``model -> score`` for :func:`fit_epochs` from ``predict(model)`` float32 (n_val, G) and the
    validation truth (n_val, G); ``score`` is one of :data:`VAL_SCORES` (higher is better).

    ``floor`` (G,), the per-gene training mean (what the ``mean`` baseline predicts), guards the
    ``pearson_gene`` score: an epoch whose validation L1 is above the floor's validation L1 by more
    than :data:`FLOOR_L1_TOLERANCE` scores ``-1 - excess`` (below any correlation), so the epoch
    chosen is never worse than the mean on validation L1 beyond the tolerance the sanity laws
    allow. Per-gene Pearson ignores each gene's offset and scale, and without this guard
    a model selected on it alone can correlate better yet err more than the floor.
    """
    if score == "pearson_gene":
        if floor is None:
            return lambda m: mean_gene_pearson(predict(m), truth)
        floor_l1 = float(np.mean(np.abs(truth.astype(np.float64) - np.asarray(floor, np.float64))))

        def guarded(m: torch.nn.Module) -> float:
            pred = predict(m)
            excess = float(np.mean(np.abs(pred.astype(np.float64) - truth))) - floor_l1
            return mean_gene_pearson(pred, truth) if excess <= FLOOR_L1_TOLERANCE else -1.0 - excess

        return guarded
    if score == "mse":
        return lambda m: -float(np.mean((predict(m).astype(np.float64) - truth) ** 2))
    raise StbenchError(f"Unknown validation score {score!r}; choose one of {', '.join(VAL_SCORES)}.")
