"""Per-spot scores for one block of spots: L1, Pearson, top-k Spearman and recall.

Everything here is per row, so a spot's scores do not depend on which other spots share
its block; the streaming engine sums them block by block.  No score depends on the order
of the genes (see :mod:`stbench.metrics.ranking`); the top-k rules for ties:

* ``recall_<k>`` is the expected overlap of the true and predicted top k when ties at
  each k-th value are broken uniformly at random (independently on both sides), over k.
  A gene's chance of being in a top k is 1 above the k-th value, (k - above) / tied at
  it, 0 below; the expected overlap is the sum over genes of the product of its two
  chances.  With no ties this is |top-k true ∩ top-k predicted| / k.
* ``spearman_<k>`` is Spearman's correlation (average ranks on both sides) over the
  *block*: every gene whose true value is at least the spot's k-th largest true value
  (k genes, or more when the k-th value is tied).  A block whose truth is constant is
  excluded.
* A spot whose truth is constant is excluded from every per-spot correlation and recall.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stbench.metrics.correlation import correlation
from stbench.metrics.ranking import (
    centred_ranks,
    cut_counts,
    key_columns,
    order_codes,
    selection_keys,
    sort_with_positions,
    sorted_counts,
    take_rows,
    top_block,
)
from stbench.metrics.workspace import Workspace

OUTSIDE = np.int64(np.iinfo(np.int32).min)  # below every float32 order code: marks non-block genes


def spot_scores(
    y_true: np.ndarray, y_pred: np.ndarray, ks: Sequence[int], work: Workspace | None = None
) -> dict[str, np.ndarray]:
    """Score every spot of a block.

    ``y_true`` and ``y_pred`` are finite (spots, genes) float arrays of log1p expression.
    ``ks`` are the requested top-k sizes; each is capped at the number of genes when
    computing, keys keep the requested value; with no ks only ``l1`` and ``pearson`` are
    computed.  ``work`` is scratch space for at least
    (spots, genes) (allocated if omitted).  Returns float64 arrays of shape (spots,):

    * ``l1``: mean absolute error over the spot's genes;
    * ``pearson``: Pearson correlation across the genes;
    * ``spearman_<k>``: Spearman correlation over the spot's top-k block (module docstring);
    * ``recall_<k>``: expected top-k overlap over k (module docstring);
    * ``tied_top_<k>``: 1.0 where the spot's true top-k boundary falls inside ties (more
      than k genes valued at least the k-th value) and the spot is scored, else 0.0.

    Correlations and recall are NaN (excluded) where the spot's truth is constant; a
    Spearman is also NaN where its block's truth is constant, and 0 where only the
    prediction is constant.
    """
    n_spots, n_genes = y_true.shape
    work = Workspace.allocate(n_spots, n_genes) if work is None else work.first_rows(n_spots)
    scores = _l1_and_pearson(y_true, y_pred, work)
    if not ks:
        return scores
    constant_spot = np.isnan(scores["pearson"])

    capped = {k: min(k, n_genes) for k in ks}
    k_list = sorted(set(capped.values()))
    # True side: every spot's top-k_max block (and with it each smaller block), sorted.
    true_keys = selection_keys(order_codes(y_true, work.f32), work.keys_true)
    true_top = top_block(true_keys, k_list[-1])  # (spots, width), best last
    true_codes = true_top >> 32
    # Predicted side: codes at the true block's genes, then each k-th value and its ties.
    pred_codes = order_codes(y_pred, work.f32)
    pred_at_true_top = take_rows(pred_codes, key_columns(true_top)).astype(np.int64)
    pred_cuts = cut_counts(pred_codes, k_list)

    true_ranks = centred_ranks(true_codes)  # tie-averaged, over the whole sorted top block
    true_values = [true_codes[:, -kc] for kc in k_list]  # each k-th largest true value
    by_k = {}
    previous = None  # (block sizes, spearman) of the last k: equal sizes, equal blocks
    true_counts = sorted_counts(true_codes, true_values)  # (above, at_least) per k
    for kc, true_value, (above, at_least) in zip(k_list, true_values, true_counts, strict=True):
        window = slice(true_codes.shape[1] - int(at_least.max()), None)  # holds every spot's block
        recall = _expected_recall(pred_at_true_top[:, window], kc, above, at_least, pred_cuts[kc])
        recall[constant_spot] = np.nan
        if previous is None:
            spearman = _window_spearman(true_ranks, pred_at_true_top, at_least, true_value == true_codes[:, -1])
        else:  # sparse spots: the blocks of several k are often the same (every gene)
            spearman = previous[1].copy()
            new = at_least != previous[0]
            if new.any():
                spearman[new] = _window_spearman(
                    true_ranks[new], pred_at_true_top[new], at_least[new], (true_value == true_codes[:, -1])[new]
                )
        spearman[constant_spot] = np.nan
        previous = (at_least, spearman)
        by_k[kc] = (spearman, recall, ((at_least > kc) & ~constant_spot).astype(np.float64))
    for k, kc in capped.items():
        scores[f"spearman_{k}"], scores[f"recall_{k}"], scores[f"tied_top_{k}"] = by_k[kc]
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


def _expected_recall(
    pred_codes: np.ndarray,
    k: int,
    true_above: np.ndarray,
    true_at_least: np.ndarray,
    pred_cut: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """Expected |top-k true ∩ top-k predicted| / k under random tie-breaking, per row.

    ``pred_codes`` (rows, width) are the prediction's order codes at genes sorted by
    increasing true value, ending with each row's true block: its last ``true_at_least``
    genes (true value at least the k-th), of which the last ``true_above`` lie above
    the k-th value.  ``pred_cut`` is ``(k-th value, above, at_least)`` of the
    prediction, per row over the whole row, as from
    :func:`stbench.metrics.ranking.cut_counts`.

    A gene's chance of being in a top k is 1 above the k-th value, (k - above) / tied
    at it, 0 below; the expected overlap sums the product of a gene's two chances.
    Here that is, per side of the true boundary (tied, above), the number of genes
    above the predicted k-th value plus the predicted share times the number at it.
    """
    pred_value, pred_above, pred_at_least = pred_cut
    pred_share = (k - pred_above) / (pred_at_least - pred_above)
    over = _segment_counts(np.greater, pred_codes, pred_value, true_above, true_at_least)
    at = _segment_counts(np.equal, pred_codes, pred_value, true_above, true_at_least)
    chance_pred = over + at * pred_share[:, None]  # (rows, 2): summed over tied, above
    true_share = (k - true_above) / (true_at_least - true_above)
    return (chance_pred[:, 0] * true_share + chance_pred[:, 1]) / k


def _segment_counts(
    compare: np.ufunc, codes: np.ndarray, value: np.ndarray, above: np.ndarray, at_least: np.ndarray
) -> np.ndarray:
    """Per row, how many of ``compare(codes, value)`` hold in its two last segments:
    the ``at_least - above`` entries before its last ``above``, and those last ``above``.

    Returns (rows, 2) int64.  One ``reduceat`` over the rows laid end to end, each with
    a False pad entry so every segment boundary is a valid, increasing index.
    """
    n_rows, width = codes.shape
    hits = np.zeros((n_rows, width + 1), np.uint8)
    compare(codes, value[:, None], out=hits[:, :width].view(bool))
    ends = np.arange(n_rows) * (width + 1) + width  # each row's pad entry
    bounds = np.stack([ends - at_least, ends - above, ends], axis=1)
    sums = np.add.reduceat(hits.reshape(-1), bounds.reshape(-1), dtype=np.int64).reshape(n_rows, 3)[:, :2]
    sums[above == 0, 1] = 0  # an empty segment: reduceat gives the entry at its start
    return sums


def _window_spearman(
    true_ranks: np.ndarray, pred_codes: np.ndarray, size: np.ndarray, true_constant: np.ndarray
) -> np.ndarray:
    """:func:`_block_spearman` over the narrowest window of the sorted top block
    (``true_ranks``/``pred_codes``, (rows, width)) that holds every row's last ``size``."""
    width = true_ranks.shape[1]
    window = slice(width - int(size.max()), None)
    # Ranks over the window's block: the top block's ranks shifted by the genes before it.
    ranks = true_ranks[:, window] - ((width - size) * 0.5)[:, None]
    return _block_spearman(ranks, pred_codes[:, window], size, true_constant)


def _block_spearman(
    true_ranks: np.ndarray, pred_codes: np.ndarray, size: np.ndarray, true_constant: np.ndarray
) -> np.ndarray:
    """Row-wise Spearman over each row's block: its last ``size`` genes.

    ``true_ranks`` (rows, width) float64 are the genes' tie-averaged true ranks, sorted
    increasing and centred over each row's block (entries in front of it are ignored);
    ``pred_codes`` are the prediction's order codes at the same positions;
    ``true_constant`` marks rows whose block has a single true value.  Genes in front
    of the block are set aside by giving them a code below every real one: their tie
    group then fills the first places of the prediction's order, shifting the block's
    ranks by a constant, half their number, that is taken off.

    The cross product needs each gene's predicted rank only where its true rank differs
    from the block's lowest: the predicted ranks sum to zero over the block, so
    ``sum(t * p) = sum((t - t_lowest) * p)``.  When those genes are few (a sparse spot's
    block is its few detected genes above a large tie at zero), their predicted ranks are
    found by binary search in the sorted codes instead of sorting the block with
    positions.  Every term is a multiple of 1/4 far below 2**50, so both routes give the
    same float64 sums exactly.
    """
    n_rows, width = true_ranks.shape
    n_outside = width - size
    outside = np.arange(width, dtype=np.int32) < n_outside.astype(np.int32)[:, None]
    true_ranks[outside] = 0.0
    codes = pred_codes.copy()
    codes[outside] = OUTSIDE
    weights = true_ranks - true_ranks[np.arange(n_rows), n_outside][:, None]  # 0 on the lowest tie
    weights[outside] = 0.0
    n_weighed = int(np.count_nonzero(weights, axis=1).max())  # a suffix of each row: ranks increase
    if 4 * n_weighed <= width:
        packed = np.sort(codes.astype(np.int32), axis=1).astype(np.int64)
        tail = slice(width - n_weighed, None)
        cross = np.vecdot(weights[:, tail], _searched_ranks(packed, pred_codes[:, tail], n_outside))
    else:
        packed, positions = sort_with_positions(codes)  # the codes, sorted
        cross = None
    pred_ranks = centred_ranks(packed)  # in prediction order; set-aside genes first
    pred_ranks -= (n_outside * 0.5)[:, None]
    if cross is None:
        cross = np.vecdot(take_rows(true_ranks, positions), pred_ranks)
    # Each set-aside gene now has rank -width/2; it meets a zero true rank in the cross
    # product, and its square is taken off the sum of squares (exact: half-integers).
    pred_sum_squares = np.vecdot(pred_ranks, pred_ranks) - n_outside * (width * width / 4)
    pred_min = packed[np.arange(n_rows), n_outside]
    return correlation(
        cross,
        np.vecdot(true_ranks, true_ranks),
        pred_sum_squares,
        true_constant,
        pred_min == packed[:, -1],
    )


def _searched_ranks(sorted_codes: np.ndarray, codes: np.ndarray, n_outside: np.ndarray) -> np.ndarray:
    """Tie-averaged ranks of ``codes`` (rows, m) among each row's block of ``sorted_codes``
    (rows, width), centred over the block as :func:`_block_spearman`'s predicted ranks are.

    ``sorted_codes`` is int64, each row sorted, its first ``n_outside`` entries the set-aside
    genes; every entry of ``codes`` is in its row's block.  Rows are offset by multiples of
    2**33 into one sorted array, so each rank is two binary searches.
    """
    n_rows, width = sorted_codes.shape
    offsets = np.arange(n_rows, dtype=np.int64) << 33
    flat = (sorted_codes + offsets[:, None]).reshape(-1)
    queries = (codes + offsets[:, None]).reshape(-1)
    first = np.searchsorted(flat, queries, side="left").reshape(codes.shape)
    after = np.searchsorted(flat, queries, side="right").reshape(codes.shape)
    # mean 0-based position of the tie group in the row, minus the block's centre
    row_starts = np.arange(0, n_rows * width, width)[:, None]
    centre = (width - 1 + n_outside) * 0.5
    return (first + after - 1) * 0.5 - row_starts - centre[:, None]
