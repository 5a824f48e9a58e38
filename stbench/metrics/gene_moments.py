"""Per-gene Pearson over spots, accumulated block by block without keeping the spots.

Two numerically sound steps, so no raw sum of squares is ever differenced:

* within one pass over a chunk (:class:`GeneSums`), per-gene sums are taken of the
  values minus a fixed shift, the first block's column means; the centred moments
  ``sum(d^2) - sum(d)^2 / n`` then only cancel by the (small) distance between that
  shift and the final mean, not by the mean itself;
* chunks are combined (:meth:`GeneMoments.merge`) with the pairwise update of Chan,
  Golub and LeVeque on means and centred co-moments.

Per-gene minima and maxima decide constancy exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stbench.metrics.correlation import correlation


@dataclass(frozen=True)
class GeneMoments:
    """Pooled per-gene statistics of ``n`` spots; every array has shape (genes,), float64.

    ``m_tt``, ``m_pp``, ``m_tp`` are the centred sums of squares and cross products of
    the true (t) and predicted (p) expression.
    """

    n: int
    mean_t: np.ndarray
    mean_p: np.ndarray
    m_tt: np.ndarray
    m_pp: np.ndarray
    m_tp: np.ndarray
    min_t: np.ndarray
    max_t: np.ndarray
    min_p: np.ndarray
    max_p: np.ndarray

    def merge(self, other: GeneMoments) -> GeneMoments:
        """Statistics of the union of the two sets of spots."""
        n = self.n + other.n
        w = self.n * other.n / n
        dt = other.mean_t - self.mean_t
        dp = other.mean_p - self.mean_p
        return GeneMoments(
            n=n,
            mean_t=self.mean_t + dt * (other.n / n),
            mean_p=self.mean_p + dp * (other.n / n),
            m_tt=self.m_tt + other.m_tt + dt * dt * w,
            m_pp=self.m_pp + other.m_pp + dp * dp * w,
            m_tp=self.m_tp + other.m_tp + dt * dp * w,
            min_t=np.minimum(self.min_t, other.min_t),
            max_t=np.maximum(self.max_t, other.max_t),
            min_p=np.minimum(self.min_p, other.min_p),
            max_p=np.maximum(self.max_p, other.max_p),
        )

    def pearson(self) -> np.ndarray:
        """Per-gene Pearson across the pooled spots, shape (genes,).

        NaN where the true gene is constant (excluded, e.g. always with one spot), 0
        where the prediction is constant, e.g. a mean predictor.
        """
        return correlation(
            self.m_tp,
            self.m_tt,
            self.m_pp,
            self.min_t == self.max_t,
            self.min_p == self.max_p,
        )


class GeneSums:
    """Running per-gene sums over a sequence of (spots, genes) blocks, about a fixed shift.

    The shift is the column means of the first block added.  :meth:`add` takes float64
    scratch arrays of at least the block's shape; :meth:`moments` returns the pooled
    :class:`GeneMoments`.
    """

    def __init__(self, n_genes: int) -> None:
        self.n = 0
        self.shift_t: np.ndarray | None = None
        self.shift_p: np.ndarray | None = None
        self.sum_t, self.sum_p, self.sum_tt, self.sum_pp, self.sum_tp = np.zeros((5, n_genes))
        self.min_t, self.min_p = np.full((2, n_genes), np.inf)
        self.max_t, self.max_p = np.full((2, n_genes), -np.inf)

    def add(self, y_true: np.ndarray, y_pred: np.ndarray, scratch_t: np.ndarray, scratch_p: np.ndarray) -> None:
        """Add a block (spots >= 1, genes) of true and predicted expression."""
        if self.shift_t is None:
            self.shift_t = y_true.mean(axis=0, dtype=np.float64)
            self.shift_p = y_pred.mean(axis=0, dtype=np.float64)
        self.n += y_true.shape[0]
        dt, dp = scratch_t[: y_true.shape[0]], scratch_p[: y_true.shape[0]]
        np.copyto(dt, y_true)
        dt -= self.shift_t
        np.copyto(dp, y_pred)
        dp -= self.shift_p
        self.sum_t += dt.sum(axis=0)
        self.sum_p += dp.sum(axis=0)
        self.sum_tt += np.einsum("ij,ij->j", dt, dt)
        self.sum_pp += np.einsum("ij,ij->j", dp, dp)
        self.sum_tp += np.einsum("ij,ij->j", dt, dp)
        np.minimum(self.min_t, y_true.min(axis=0), out=self.min_t)
        np.maximum(self.max_t, y_true.max(axis=0), out=self.max_t)
        np.minimum(self.min_p, y_pred.min(axis=0), out=self.min_p)
        np.maximum(self.max_p, y_pred.max(axis=0), out=self.max_p)

    def moments(self) -> GeneMoments:
        """Means and centred co-moments of everything added (at least one spot)."""
        mean_dt, mean_dp = self.sum_t / self.n, self.sum_p / self.n
        return GeneMoments(
            n=self.n,
            mean_t=self.shift_t + mean_dt,
            mean_p=self.shift_p + mean_dp,
            m_tt=np.maximum(self.sum_tt - self.sum_t * mean_dt, 0.0),
            m_pp=np.maximum(self.sum_pp - self.sum_p * mean_dp, 0.0),
            m_tp=self.sum_tp - self.sum_t * mean_dp,
            min_t=self.min_t.copy(),
            max_t=self.max_t.copy(),
            min_p=self.min_p.copy(),
            max_p=self.max_p.copy(),
        )


def gene_moments(y_true: np.ndarray, y_pred: np.ndarray) -> GeneMoments:
    """The pooled per-gene moments of one (spots >= 1, genes) pair of true and predicted
    expression (any float dtype; summed in float64); merge several with :meth:`GeneMoments.merge`."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    sums = GeneSums(y_true.shape[1])
    sums.add(y_true, y_pred, np.empty(y_true.shape), np.empty(y_pred.shape))
    return sums.moments()


def gene_pearson(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per-gene Pearson across the spots of one (spots, genes) pair, shape (genes,): the
    ``pearson_gene`` definition (NaN where the truth is constant, 0 where the prediction is)."""
    return gene_moments(y_true, y_pred).pearson()
