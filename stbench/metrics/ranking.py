"""Ranking primitives on blocks of spots (rows) x genes (columns), free of gene order.

Ranking (top-k boundaries and Spearman ranks) compares values rounded to float32, the
storage precision of expression matrices; values equal in float32 (``-0.0`` and ``0.0``
included) are ties.  (Correlations and L1 themselves use the input precision.)  No
result depends on where a gene sits in the panel:

* **top-k boundary**: what matters is the k-th largest value of a row and how many
  values lie above it and at it (:func:`cut_counts`, :func:`top_block`); genes tied at
  the k-th value are all treated alike;
* **Spearman ranks** inside a block: tied values share the average of the positions
  they occupy, as :func:`scipy.stats.rankdata` (``method="average"``) does.

Both are built on integer keys.  :func:`order_codes` maps float32 to int32 with the same
order; :func:`selection_keys` packs that code and the column index into one unique
int64 (code in the high half), so NumPy's fast unstable partition and sort are
reproducible; the column half only tells the genes apart, it never decides a value.

Sparse rows (most values 0.0, so most codes tied) are where NumPy's selection and sorting
differ most in speed: partitioning int32 codes slows down about tenfold when most of them
are equal, while a full sort of them, or a stable argsort, gets faster. Where a block's
share of zero codes is above :data:`SORT_NOT_PARTITION` (selection) or
:data:`ARGSORT_NOT_PACKED` (ordering with positions) the functions below switch to those; the
results are the same either way (a partition, a full sort and a stable argsort give the same
values and the same tie order), only the time differs.
"""

from __future__ import annotations

import numpy as np

LOW32 = np.int64(0xFFFFFFFF)
SORT_NOT_PARTITION = 0.45
"""Share of zero codes above which a full sort replaces a partition (5,000-gene rows, NumPy 2.4
with AVX-512: at 40% zeros partitioning is faster, at 50% sorting is, 3.5x at 70%)."""
ARGSORT_NOT_PACKED = 0.65
"""Share of zero codes above which a stable argsort of the codes replaces sorting codes packed
with their positions (the same machine: the packed sort is faster up to 55% zeros, the argsort
from 70%, 1.5x at 80%)."""


def zero_share(codes: np.ndarray) -> float:
    """The share of the codes that are 0 (the value 0.0)."""
    return np.count_nonzero(codes == 0) / codes.size


def order_codes(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """int32 codes with the order and equality of ``float32(x)``, written via ``out``.

    ``x`` is a finite real (rows, cols) array; ``out`` a float32 array of the same shape
    that is overwritten.  Returns ``out`` viewed as int32.
    """
    np.add(x, np.float32(0.0), out=out, casting="same_kind")  # also turns -0.0 into 0.0
    codes = out.view(np.int32)
    if codes.min() < 0:  # negative floats: order by decreasing magnitude, m -> -m
        sign = codes >> 31
        np.bitwise_and(codes, 0x7FFFFFFF, out=codes)
        codes ^= sign
        codes -= sign
    return codes


def selection_keys(codes: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Unique int64 keys, larger = higher value (then lower column index, to tell genes apart).

    ``codes`` is (rows, cols) int32 from :func:`order_codes`; ``out`` an int64 array of
    the same shape, overwritten and returned.  The code sits in the high 32 bits
    (``key >> 32``); decode the column with :func:`key_columns`.
    """
    np.left_shift(codes, 32, out=out, dtype=np.int64)
    out += LOW32 - np.arange(codes.shape[1], dtype=np.int64)
    return out


def key_columns(keys: np.ndarray) -> np.ndarray:
    """Column indices encoded in :func:`selection_keys` keys."""
    return LOW32 - (keys & LOW32)


def take_rows(values: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``values[i, columns[i, j]]`` for every i, j (one flat gather, for speed)."""
    offsets = np.arange(0, values.shape[0] * values.shape[1], values.shape[1])[:, None]
    return np.take(values.reshape(-1), columns + offsets)


def top_block(keys: np.ndarray, k: int) -> np.ndarray:
    """Each row's genes valued at least its k-th largest value, sorted by increasing key.

    ``keys`` is (rows, cols) from :func:`selection_keys` with ``1 <= k <= cols``; it is
    reordered in place.  Returns (rows, width) int64, best last, where ``width`` is the
    largest such block over the rows (so every row's block is a suffix of its row; a row
    with a smaller block has genes below its k-th value in front).
    """
    n_cols = keys.shape[1]
    codes = keys >> 32
    # A row with fewer than k values above its smallest has the whole row as its block.
    if k == n_cols or (np.count_nonzero(codes > codes.min(axis=1, keepdims=True), axis=1) < k).any():
        return _sorted_keys(keys, codes)
    keys.partition(n_cols - k, axis=1)
    lowest = (keys[:, n_cols - k] >> 32) << 32  # smallest key with the k-th value
    width = k + int(np.count_nonzero(keys[:, : n_cols - k] >= lowest[:, None], axis=1).max())
    if width > k:  # bring the genes tied at the k-th value to the end of the rest
        keys[:, : n_cols - k].partition(n_cols - width, axis=1)
    return np.sort(keys[:, n_cols - width :], axis=1)


def _sorted_keys(keys: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``np.sort(keys, axis=1)`` for :func:`selection_keys` keys still in column order, whose
    codes are ``codes``; on mostly-zero rows by a stable argsort of the codes."""
    if zero_share(codes) <= ARGSORT_NOT_PACKED:
        return np.sort(keys, axis=1)
    # Equal codes: the higher column has the smaller key, so sort the reversed row stably.
    order = np.argsort(codes[:, ::-1], axis=1, kind="stable")
    return take_rows(keys, (keys.shape[1] - 1) - order)


def sorted_counts(codes: np.ndarray, values: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """How many entries of each row are ``>`` and ``>=`` a value of that row.

    ``codes`` is (rows, width) int64, each row sorted increasing, values in the int32
    range; ``values`` is a list of (rows,) int64 arrays.  Returns ``(above, at_least)``
    per array, each (rows,).  The rows are offset by multiples of 2**33 into one sorted
    array, so each count is a binary search.
    """
    n_rows, width = codes.shape
    offsets = np.arange(n_rows, dtype=np.int64) << 33
    flat = (codes + offsets[:, None]).reshape(-1)
    ends = np.arange(1, n_rows + 1) * width
    counts = []
    for value in values:
        shifted = value + offsets
        above = ends - np.searchsorted(flat, shifted, side="right")
        counts.append((above, ends - np.searchsorted(flat, shifted, side="left")))
    return counts


def cut_counts(codes: np.ndarray, ks: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Where each row's top k ends: for each k, ``(value, above, at_least)``, each (rows,).

    ``codes`` is (rows, cols) int32 from :func:`order_codes` with every k in [1, cols]; it
    is reordered in place (one partition at the largest k).  ``value`` is the k-th
    largest code (int64), ``above``/``at_least`` count the row's codes ``>``/``>=`` it
    (so the top-k boundary falls inside ties exactly when ``at_least > k``).
    """
    n_cols = codes.shape[1]
    k_max = max(ks)
    if zero_share(codes) > SORT_NOT_PARTITION:
        codes.sort(axis=1)
    elif k_max < n_cols:
        codes.partition(n_cols - k_max, axis=1)
    top = np.sort(codes[:, n_cols - k_max :], axis=1).astype(np.int64)  # the k_max largest, increasing
    values = [top[:, k_max - k] for k in ks]
    # Outside ``top`` every code is <= its smallest; count the ones equal to it once.
    tied_outside = np.count_nonzero(codes[:, : n_cols - k_max] == top[:, :1], axis=1)
    cuts = {}
    for k, value, (above, at_least) in zip(ks, values, sorted_counts(top, values), strict=True):
        cuts[k] = (value, above, at_least + np.where(value == top[:, 0], tied_outside, 0))
    return cuts


def sort_with_positions(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row sorted by code, ties in column order: ``(sorted codes, their columns)``.

    ``codes`` is (rows, cols) int64 with values in the int32 range; it is overwritten.
    Returns two (rows, cols) int64 arrays (the sorted codes are ``codes`` itself).
    """
    if zero_share(codes) > ARGSORT_NOT_PACKED:
        positions = np.argsort(codes, axis=1, kind="stable")
        codes[...] = take_rows(codes, positions)
        return codes, positions
    codes <<= 32
    codes |= np.arange(codes.shape[1], dtype=np.int64)
    codes.sort(axis=1)
    positions = codes & LOW32
    codes >>= 32
    return codes, positions


def centred_ranks(sorted_codes: np.ndarray) -> np.ndarray:
    """Tie-averaged ranks minus their mean, for rows already sorted by value.

    ``sorted_codes`` is (rows, k) with each row sorted (ties adjacent).  Returns
    (rows, k) float64: the mean position of each entry's tie group, minus (k - 1) / 2,
    so every row sums to zero; the ranks increase along the row.
    """
    n_rows, k = sorted_codes.shape
    flat = np.ascontiguousarray(sorted_codes).reshape(-1)
    starts_group = np.empty(flat.size, dtype=bool)
    np.not_equal(flat[1:], flat[:-1], out=starts_group[1:])
    starts_group[::k] = True  # every row starts a group
    first = np.flatnonzero(starts_group)  # flat index of each group's first entry
    size = np.empty_like(first)
    np.subtract(first[1:], first[:-1], out=size[:-1])
    size[-1] = flat.size - first[-1]
    ranks = np.repeat(first + (size - 1) * 0.5, size).reshape(n_rows, k)
    ranks -= np.arange(0, flat.size, k, dtype=np.float64)[:, None] + (k - 1) * 0.5  # flat -> centred
    return ranks
