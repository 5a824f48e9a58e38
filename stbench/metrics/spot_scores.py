"""Per-spot scores for one block of spots: L1, Pearson, top-k Spearman and recall.

Everything here is per row, so a spot's scores do not depend on which other spots share
its block; the streaming engine sums them block by block.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stbench.metrics.correlation import correlation
from stbench.metrics.ranking import (
    centred_ranks,
    key_columns,
    kth_largest,
    order_codes,
    selection_keys,
    sort_by_value,
    take_rows,
    top_keys,
)
from stbench.metrics.workspace import Workspace


def spot_scores(
    y_true: np.ndarray, y_pred: np.ndarray, ks: Sequence[int], work: Workspace | None = None
) -> dict[str, np.ndarray]:
    """Score every spot of a block.

    ``y_true`` and ``y_pred`` are finite (spots, genes) float arrays of log1p expression.
    ``ks`` are the requested top-k sizes; each is capped at the number of genes when
    computing, keys keep the requested value.  ``work`` is scratch space for at least
    (spots, genes) (allocated if omitted).  Returns float64 arrays of shape (spots,):

    * ``l1``: mean absolute error over the spot's genes;
    * ``pearson``: Pearson correlation across the genes;
    * ``spearman_<k>``: Spearman correlation over the k genes with the highest TRUE
      expression (ties to the lower gene index, see :mod:`stbench.metrics.ranking`);
    * ``recall_<k>``: |top-k true  ∩  top-k predicted| / k.

    A correlation is NaN (excluded) where the true vector (the spot, or its top-k block)
    is constant, and 0 where only the prediction is constant.
    """
    n_spots, n_genes = y_true.shape
    work = Workspace.allocate(n_spots, n_genes) if work is None else work.first_rows(n_spots)
    scores = _l1_and_pearson(y_true, y_pred, work)

    capped = {k: min(k, n_genes) for k in ks}
    k_max = max(capped.values())
    true_keys = selection_keys(order_codes(y_true, work.f32), work.keys_true)
    pred_keys = selection_keys(order_codes(y_pred, work.f32), work.keys_pred)
    true_top = top_keys(true_keys, k_max)  # (spots, k_max), best last
    true_top_codes = true_top >> 32
    # The prediction's keys at the true top genes, read before pred_keys is reordered.
    pred_at_true_top = take_rows(pred_keys, key_columns(true_top))
    pred_thresholds = kth_largest(pred_keys, list(set(capped.values())))

    for k, kc in capped.items():
        block = slice(k_max - kc, None)  # the top kc genes
        hits = np.count_nonzero(pred_at_true_top[:, block] >= pred_thresholds[kc], axis=1)
        scores[f"recall_{k}"] = hits / kc
        scores[f"spearman_{k}"] = _spearman_rows(true_top_codes[:, block], pred_at_true_top[:, block])
    return scores


def _l1_and_pearson(y_true: np.ndarray, y_pred: np.ndarray, work: Workspace) -> dict[str, np.ndarray]:
    """Row-wise L1 and Pearson, in float64 (Pearson from mean-centred values)."""
    ct, cp, diff = work.f64_a, work.f64_b, work.f64_c
    np.copyto(ct, y_true)
    np.copyto(cp, y_pred)
    np.subtract(ct, cp, out=diff)
    np.abs(diff, out=diff)
    l1 = diff.mean(axis=1)
    ct -= ct.mean(axis=1, keepdims=True)
    cp -= cp.mean(axis=1, keepdims=True)
    pearson = correlation(
        np.vecdot(ct, cp),
        np.vecdot(ct, ct),
        np.vecdot(cp, cp),
        y_true.min(axis=1) == y_true.max(axis=1),
        y_pred.min(axis=1) == y_pred.max(axis=1),
    )
    return {"l1": l1, "pearson": pearson}


def _spearman_rows(true_codes: np.ndarray, pred_keys: np.ndarray) -> np.ndarray:
    """Row-wise Spearman of a block of genes sorted by increasing true value.

    ``true_codes`` are the true order codes and ``pred_keys`` the prediction's selection
    keys at the same (spots, k) positions.  Ranks are tie-averaged on both sides.
    """
    true_ranks = centred_ranks(true_codes)
    positions, pred_codes = sort_by_value(pred_keys)
    pred_ranks = centred_ranks(pred_codes)  # in prediction order
    true_ranks_in_pred_order = take_rows(true_ranks, positions)
    return correlation(
        np.vecdot(true_ranks_in_pred_order, pred_ranks),
        np.vecdot(true_ranks, true_ranks),
        np.vecdot(pred_ranks, pred_ranks),
        true_codes[:, 0] == true_codes[:, -1],
        pred_codes[:, 0] == pred_codes[:, -1],
    )
