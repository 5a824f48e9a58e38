"""Deterministic ranking primitives on blocks of spots (rows) x genes (columns).

Ranking (top-k selection and Spearman ranks) compares values rounded to float32, the
storage precision of expression matrices; values equal in float32 (``-0.0`` and ``0.0``
included) are ties.  (Correlations and L1 themselves use the input precision.)  The
tie rules:

* **selection** (which genes are a spot's top k, and their order): among equal values
  the gene with the lower column index ranks higher, so the top-k set is unique;
* **Spearman ranks** inside a block: tied values share the average of the positions
  they occupy, as :func:`scipy.stats.rankdata` (``method="average"``) does.

Both are built on integer keys.  :func:`order_codes` maps float32 to int32 with the same
order; :func:`selection_keys` packs that code and the column index into one unique
int64 (code in the high half), so NumPy's fast unstable partition and sort always give
the same answer.
"""

from __future__ import annotations

import numpy as np

LOW32 = np.int64(0xFFFFFFFF)
HIGH32 = ~LOW32


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
    """Unique int64 keys, larger = ranks higher: value first, then lower column index.

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


def top_keys(keys: np.ndarray, k: int) -> np.ndarray:
    """The k largest keys of each row in increasing order (best last): (rows, k) int64.

    ``keys`` (rows, cols) with ``1 <= k <= cols`` is reordered in place.  The top j
    of the row, for any j <= k, are the last j columns of the result.
    """
    n_cols = keys.shape[1]
    if k < n_cols:
        keys.partition(n_cols - k, axis=1)
    return np.sort(keys[:, n_cols - k :], axis=1)


def kth_largest(keys: np.ndarray, ks: list[int]) -> dict[int, np.ndarray]:
    """For each k in ``ks`` the k-th largest key of each row, shape (rows, 1).

    ``keys`` is (rows, cols) with every k in [1, cols]; it is reordered in place by
    nested partitions (largest k first), so no row is fully sorted.
    """
    thresholds = {}
    block = keys
    for k in sorted(ks, reverse=True):
        width = block.shape[1]
        if k < width:
            block.partition(width - k, axis=1)
            block = block[:, width - k :]
        thresholds[k] = block.min(axis=1, keepdims=True)  # block now holds the row's top k
    return thresholds


def sort_by_value(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row of a (rows, k) block of selection keys by value, increasing.

    Returns ``(positions, codes)``, both (rows, k) int64: the block column of each
    sorted entry and its value code.  Tied entries come in block-column order.
    """
    packed = keys & HIGH32
    packed |= np.arange(keys.shape[1], dtype=np.int64)
    packed.sort(axis=1)
    return packed & LOW32, packed >> 32


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
