"""The measurement's own ceiling: split-half reliability of the correlation metrics, from raw counts.

A spot's counts are a sample of its true expression. Split each count at random into two
halves (binomial thinning, p = 0.5): under Poisson sampling the halves are independent
Poisson samples of the same expression at half depth. Each half is normalised and
``log1p``-transformed exactly as the protocol does (:func:`stbench.data.panel.normalise_log1p`),
and the two halves are compared with the benchmark's own correlation code:

* per gene: Pearson across the pooled spots (as ``pearson_gene``,
  :class:`stbench.metrics.gene_moments.GeneSums`);
* per spot: Pearson across the scored genes (as ``pearson``,
  :func:`stbench.metrics.spot_scores.spot_scores`).

The half-depth correlation ``r`` is brought to full depth with the Spearman-Brown formula
``R = 2 r / (1 + r)`` (reliability of a measurement twice as long; Spearman 1910, Brown 1910),
the correlation between two independent full-depth measurements of the same spots. The
highest correlation any prediction made without the measurement's own noise can reach
against an observed full-depth measurement is the correlation between that measurement and
its noise-free value, ``sqrt(R)`` (classical test theory: Lord & Novick 1968, ch. 3); that is
the **ceiling** of a gene (or spot). A negative ``r`` (no reliable signal) gives ceiling 0.
The metric's ceiling is the mean of the per-gene (per-spot) ceilings, as the metric is the
mean of the per-gene (per-spot) correlations.

Only the correlation metrics get a ceiling: Spearman-Brown corrects a correlation for
measurement length; L1 has no such correction (its noise floor depends on the scale of the
noise, not on a ratio of variances), and the top-k Spearman and recall select genes on the
noisy truth itself, so halving the depth changes which genes are compared, not only how
noisy they are. See ``docs/ceiling.md`` for the assumptions and what breaks them.

Seeds: every seed thins every slide anew (a generator per (seed, slide position)); the
ceiling is the mean over seeds and its spread the standard deviation over seeds (ddof = 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from stbench.data.panel import normalise_log1p
from stbench.errors import StbenchError
from stbench.metrics.gene_moments import GeneSums
from stbench.metrics.regression import block_rows
from stbench.metrics.spot_scores import spot_scores
from stbench.metrics.workspace import Workspace

if TYPE_CHECKING:
    from stbench.data.prepared import PreparedCohort

CEILING_METRICS: tuple[str, ...] = ("pearson", "pearson_gene")
"""The metrics that have a ceiling: the correlations (module docstring says why only these)."""
SEEDS: tuple[int, ...] = (0, 1, 2, 3, 4)
"""Thinning seeds: five splits are enough for a seed spread well below the ceiling's own scale."""
THINNING_P = 0.5


@dataclass(frozen=True)
class Ceiling:
    """Split-half ceilings of a set of spots, one row per seed.

    Attributes:
        seeds: the thinning seeds, in row order.
        gene: float64 (seeds, genes): each scored gene's ceiling of its Pearson across the
            spots; NaN where the gene's full-depth expression is constant (left out of
            ``pearson_gene``, as by the metric).
        spot: float64 (seeds, spots): each spot's ceiling of its Pearson across the scored
            genes; NaN where the spot's full-depth expression is constant over them.
    """

    seeds: tuple[int, ...]
    gene: np.ndarray
    spot: np.ndarray

    def per_seed(self, metric: str) -> np.ndarray:
        """float64 (seeds,): the ceiling of ``metric`` (one of :data:`CEILING_METRICS`) per seed."""
        if metric not in CEILING_METRICS:
            raise StbenchError(f"Metric {metric!r} has no ceiling; only {', '.join(CEILING_METRICS)} do.")
        values = self.gene if metric == "pearson_gene" else self.spot
        scored = np.isfinite(values[0])
        return values[:, scored].mean(axis=1) if scored.any() else np.full(len(self.seeds), np.nan)

    def summary(self, metric: str) -> tuple[float, float]:
        """(mean, std over seeds) of the ceiling of ``metric``."""
        values = self.per_seed(metric)
        return float(values.mean()), float(values.std(ddof=0))

    def gene_summary(self) -> tuple[np.ndarray, np.ndarray]:
        """float64 (genes,) each gene's ceiling, mean and std over seeds (NaN for constant genes)."""
        return self.gene.mean(axis=0), self.gene.std(axis=0, ddof=0)


def spearman_brown(r: np.ndarray, factor: float = 2.0) -> np.ndarray:
    """Reliability of a measurement ``factor`` times as long: ``factor r / (1 + (factor - 1) r)``."""
    r = np.asarray(r, dtype=np.float64)
    return factor * r / (1.0 + (factor - 1.0) * r)


def ceiling_from_half(r_half: np.ndarray) -> np.ndarray:
    """Ceiling ``sqrt(spearman_brown(max(r_half, 0)))`` of split-half correlations (any shape).

    NaN stays NaN.
    """
    return np.sqrt(spearman_brown(np.clip(np.asarray(r_half, dtype=np.float64), 0.0, 1.0)))


def binomial_halves(counts: sp.csr_matrix, rng: np.random.Generator) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Split integer counts (spots, genes) csr into two halves by binomial thinning, p = 0.5.

    Returns two csr int64 matrices of the shape of ``counts`` that sum to it; under Poisson
    sampling they are independent Poisson samples at half depth.
    """
    data = np.rint(counts.data).astype(np.int64)
    first = rng.binomial(data, THINNING_P)
    halves = []
    for values in (first, data - first):
        half = sp.csr_matrix((values, counts.indices.copy(), counts.indptr.copy()), shape=counts.shape)
        half.eliminate_zeros()
        halves.append(half)
    return halves[0], halves[1]


def split_half_ceiling(
    slides: Sequence[sp.csr_matrix | np.ndarray],
    scored: np.ndarray | None = None,
    seeds: Sequence[int] = SEEDS,
) -> Ceiling:
    """Split-half ceilings of the spots of ``slides``, pooled (as a fold's test slides are scored).

    Args:
        slides: raw counts per slide, (spots, genes) with the same genes in the same order,
            non-negative integers. Every column counts towards a spot's library size (as
            in the protocol, which normalises over all the slide's genes before taking the
            panel), so a slide may carry extra columns, e.g. the total of its off-panel genes.
        scored: int indices of the columns the metrics run over (the panel); all by default.
        seeds: thinning seeds.

    Returns:
        A :class:`Ceiling`: per-gene ceilings over the pooled spots, per-spot ceilings in the
        order of ``slides`` then rows. A spot whose half has no count keeps all-zero
        expression in that half (the protocol drops only spots with no count at all).

    Raises:
        StbenchError: no spots, counts that are not non-negative integers, or slides whose
            numbers of columns differ.
    """
    matrices = [_checked_counts(s) for s in slides]
    if not matrices or sum(m.shape[0] for m in matrices) == 0:
        raise StbenchError("A ceiling needs at least one spot.")
    n_cols = matrices[0].shape[1]
    if any(m.shape[1] != n_cols for m in matrices):
        raise StbenchError("The slides of a ceiling must have the same genes (columns).")
    scored = np.arange(n_cols) if scored is None else np.asarray(scored, dtype=np.int64)
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise StbenchError("A ceiling needs at least one seed.")
    n_genes = len(scored)
    rows = block_rows(n_genes)
    work = Workspace.allocate(min(rows, max(m.shape[0] for m in matrices)), n_genes)
    gene_sums = [GeneSums(n_genes) for _ in seeds]
    spot_rows: list[list[np.ndarray]] = [[] for _ in seeds]
    gene_min, gene_max = np.full(n_genes, np.inf), np.full(n_genes, -np.inf)
    for position, counts in enumerate(matrices):
        if counts.shape[0] == 0:
            continue
        full = _log_expression(counts, scored)
        spot_constant = np.empty(counts.shape[0], bool)
        for start in range(0, counts.shape[0], rows):
            block = full[start : start + rows].toarray()
            spot_constant[start : start + rows] = block.min(axis=1) == block.max(axis=1)
            np.minimum(gene_min, block.min(axis=0), out=gene_min)
            np.maximum(gene_max, block.max(axis=0), out=gene_max)
        for i, seed in enumerate(seeds):
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(position,)))
            a, b = (_log_expression(half, scored) for half in binomial_halves(counts, rng))
            r_spot = np.empty(counts.shape[0])
            for start in range(0, counts.shape[0], rows):
                block_a = a[start : start + rows].toarray()
                block_b = b[start : start + rows].toarray()
                blk = work.first_rows(block_a.shape[0])
                r_spot[start : start + rows] = spot_scores(block_a, block_b, (), blk)["pearson"]
                gene_sums[i].add(block_a, block_b, blk.f64_a, blk.f64_b)
            spot_rows[i].append(_ceiling(r_spot, spot_constant))
    gene_constant = gene_min == gene_max
    gene = np.stack([_ceiling(sums.moments().pearson(), gene_constant) for sums in gene_sums])
    spot = np.stack([np.concatenate(parts) for parts in spot_rows])
    return Ceiling(seeds, gene, spot)


def _ceiling(r_half: np.ndarray, constant: np.ndarray) -> np.ndarray:
    """Ceilings of split-half correlations; NaN where the full-depth vector is constant, 0 where
    only a half is (a half with nothing to correlate carries no reliable signal)."""
    out = ceiling_from_half(np.nan_to_num(r_half, nan=0.0))
    out[constant] = np.nan
    return out


def _log_expression(counts: sp.csr_matrix, scored: np.ndarray) -> sp.csr_matrix:
    """The protocol's ``log1p`` expression of ``counts`` on the ``scored`` columns, csr float32;
    spots with no count stay all zero."""
    totals = np.asarray(counts.sum(axis=1)).ravel()
    if (totals > 0).all():
        return normalise_log1p(counts)[:, scored]
    counted = np.flatnonzero(totals > 0)
    place = sp.csr_matrix(
        (np.ones(counted.size, np.float32), (counted, np.arange(counted.size))), shape=(counts.shape[0], counted.size)
    )
    return (place @ normalise_log1p(counts[counted])[:, scored]).tocsr()


def _checked_counts(counts: sp.csr_matrix | np.ndarray) -> sp.csr_matrix:
    matrix = sp.csr_matrix(counts)
    if matrix.ndim != 2:
        raise StbenchError(f"Counts must be a 2-D (spots, genes) matrix, got shape {matrix.shape}.")
    data = matrix.data
    if data.size and (not np.isfinite(data).all() or (data < 0).any() or (np.rint(data) != data).any()):
        raise StbenchError("A ceiling needs raw counts (non-negative integers); these counts are normalised.")
    return matrix


def prepared_ceiling(prepared: PreparedCohort, slide_ids: Sequence[str], seeds: Sequence[int] = SEEDS) -> Ceiling:
    """:func:`split_half_ceiling` of a prepared cohort's slides (e.g. a fold's test slides), pooled,
    on the cohort's panel; each spot's off-panel count is one extra column of its library size.

    Raises:
        StbenchError: the prepared folder keeps no raw counts (see
            :meth:`stbench.data.prepare.PreparedCohort.raw_counts`).
    """
    slides = []
    for slide_id in slide_ids:
        panel, other = prepared.raw_counts(slide_id)
        slides.append(sp.hstack([panel, sp.csr_matrix(other.reshape(-1, 1))], format="csr"))
    return split_half_ceiling(slides, scored=np.arange(len(prepared.genes)), seeds=seeds)
