"""Regression metrics of predicted vs true expression (spots x genes, log1p space).

The functional core: :func:`regression_state` summarises a chunk of spots into a
:class:`RegressionState` (per-spot score sums and pooled per-gene moments), states of
disjoint chunks :meth:`~RegressionState.merge`, and :meth:`~RegressionState.metrics`
turns a state into the metric values.  :func:`regression_metrics` is the one-shot
use; :class:`stbench.metrics.streaming.RegressionAccumulator` the streaming one.

A chunk is processed in blocks of about ``BLOCK_ELEMENTS`` values (13 spots at 5,000
genes), small enough for the CPU caches, with scratch buffers reused from block to
block: temporary memory is a few MB plus 8 bytes per spot of the chunk and per-spot
metric (9 with the default ks).

Exclusion rule: a spot, gene or top-k block whose TRUE values are constant has no
correlation and is left out of that metric's mean (a constant spot also out of
``recall_<k>``: it has no top k) and counted, see :meth:`RegressionState.excluded`; a
constant PREDICTION against a varying truth scores 0.  A metric with nothing left to
average is NaN.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from stbench.errors import StbenchError
from stbench.metrics.gene_moments import GeneMoments, GeneSums
from stbench.metrics.catalog import DEFAULT_KS
from stbench.metrics.spot_scores import spot_scores
from stbench.metrics.inputs import check_ks, check_pair
from stbench.metrics.workspace import Workspace

BLOCK_ELEMENTS = 1 << 16


@dataclass(frozen=True)
class RegressionState:
    """Everything the regression metrics need from a set of spots.

    ``sums[key]``/``counts[key]`` are the sum and number of the non-excluded per-spot
    values of each per-spot row (:func:`spot_row_keys`; see
    :func:`stbench.metrics.spot_scores.spot_scores`); ``genes`` holds the pooled
    per-gene moments.
    """

    ks: tuple[int, ...]
    n_spots: int
    sums: dict[str, float]
    counts: dict[str, int]
    genes: GeneMoments

    def merge(self, other: RegressionState) -> RegressionState:
        """State of the union of two disjoint sets of spots (same genes and ks)."""
        return RegressionState(
            ks=self.ks,
            n_spots=self.n_spots + other.n_spots,
            sums={key: value + other.sums[key] for key, value in self.sums.items()},
            counts={key: value + other.counts[key] for key, value in self.counts.items()},
            genes=self.genes.merge(other.genes),
        )

    def metrics(self) -> dict[str, float]:
        """Metric values: ``l1``, ``pearson``, ``pearson_gene``, ``spearman_<k>``, ``recall_<k>``."""
        values = {key: self.sums[key] / n if n else float("nan") for key, n in self.counts.items()}
        per_gene = self.genes.pearson()
        scored = per_gene[~np.isnan(per_gene)]
        values["pearson_gene"] = float(scored.mean()) if scored.size else float("nan")
        return {key: float(values[key]) for key in _metric_order(self.ks)}

    def excluded(self) -> dict[str, int]:
        """How many spots, genes and top-k blocks were left out for a constant truth,
        and how many scored spots had their top-k boundary inside ties.

        Keys: ``constant_spots`` (left out of pearson, spearman_<k> and recall_<k>),
        ``constant_genes`` (pearson_gene), ``constant_top_<k>`` (left out of
        spearman_<k>: constant spots plus spots whose top-k block is constant) and
        ``tied_top_<k>`` (scored spots with more than k genes valued at least the
        k-th largest true value, where the tie rules of recall_<k> and spearman_<k>
        come into play).
        """
        excluded = {
            "constant_spots": self.n_spots - self.counts["pearson"],
            "constant_genes": int(np.isnan(self.genes.pearson()).sum()),
        }
        for k in self.ks:
            excluded[f"constant_top_{k}"] = self.n_spots - self.counts[f"spearman_{k}"]
        for k in self.ks:
            excluded[f"tied_top_{k}"] = round(self.sums[f"tied_top_{k}"])
        return excluded


def regression_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, ks: Iterable[int] = DEFAULT_KS
) -> dict[str, float]:
    """Regression metrics of a prediction over one or more slides.

    ``y_true`` and ``y_pred`` are (spots, genes) float32/float64 arrays of log1p
    expression.  Returns (see :mod:`stbench.metrics.catalog` for the definitions):

    * ``l1``: mean absolute error over all spots and genes (lower is better);
    * ``pearson``: per spot across genes, mean over spots;
    * ``pearson_gene``: per gene across the given spots, mean over genes;
    * ``spearman_<k>`` and ``recall_<k>`` for each requested k (k capped at the number
      of genes): Spearman over the genes valued at least the spot's k-th largest true
      value, and the expected top-k overlap / k under random tie-breaking.

    Ties: genes are ranked on float32-rounded values, and no metric depends on the order
    of the genes: recall is the expected overlap under random tie-breaking, Spearman
    runs over every gene valued at least the k-th true value, with average ranks (see
    :mod:`stbench.metrics.spot_scores`).  A constant true spot is excluded from every
    per-spot metric, a constant gene or top-k block from its correlation; a constant
    prediction scores 0 (module docstring).
    """
    ks = check_ks(ks)
    y_true, y_pred = check_pair(y_true, y_pred)
    if y_true.shape[0] == 0:
        raise StbenchError("Cannot compute metrics on zero spots.")
    return regression_state(y_true, y_pred, ks).metrics()


def regression_state(
    y_true: np.ndarray, y_pred: np.ndarray, ks: tuple[int, ...], work: Workspace | None = None
) -> RegressionState:
    """Summarise checked (spots >= 1, genes) arrays block by block.

    ``work`` is scratch space whose row count sets the block size (allocated for
    ``block_rows(genes)`` spots if omitted).  Raises :class:`StbenchError` on NaN or
    infinite values.
    """
    n_spots, n_genes = y_true.shape
    if work is None:
        work = Workspace.allocate(min(block_rows(n_genes), n_spots), n_genes)
    rows = work.rows
    keys = spot_row_keys(ks)
    scores = np.empty((len(keys), n_spots))  # per-spot values, NaN = excluded
    genes = GeneSums(n_genes)
    for start in range(0, n_spots, rows):
        block_true = np.ascontiguousarray(y_true[start : start + rows])
        block_pred = np.ascontiguousarray(y_pred[start : start + rows])
        # The sum is NaN/inf if any value is (or if huge values overflow: also rejected).
        if not (np.isfinite(block_true.sum()) and np.isfinite(block_pred.sum())):
            raise StbenchError("Expression arrays contain NaN, infinite or out-of-range values.")
        block_scores = spot_scores(block_true, block_pred, ks, work)
        for row, key in enumerate(keys):
            scores[row, start : start + rows] = block_scores[key]
        genes.add(block_true, block_pred, work.f64_a, work.f64_b)
    return state_from_scores(ks, scores, genes.moments())


def spot_row_keys(ks: tuple[int, ...]) -> list[str]:
    """The per-spot rows, in the order :func:`state_from_scores` expects: the per-spot
    metrics, then the ``tied_top_<k>`` indicators (1.0 for a spot whose true top-k
    boundary falls inside ties, else 0.0)."""
    metrics = [key for key in _metric_order(ks) if key != "pearson_gene"]
    return [*metrics, *(f"tied_top_{k}" for k in ks)]


def state_from_scores(ks: tuple[int, ...], scores: np.ndarray, genes: GeneMoments) -> RegressionState:
    """State of a chunk from its per-spot scores and pooled gene moments.

    ``scores`` is float64 (len(spot_row_keys(ks)), spots), one row per key, NaN
    where a spot is excluded.  Shared by the NumPy and torch engines.
    """
    keys = spot_row_keys(ks)
    included = ~np.isnan(scores)
    return RegressionState(
        ks=ks,
        n_spots=scores.shape[1],
        sums=dict(zip(keys, np.where(included, scores, 0.0).sum(axis=1).tolist(), strict=True)),
        counts=dict(zip(keys, included.sum(axis=1).tolist(), strict=True)),
        genes=genes,
    )


def block_rows(n_genes: int) -> int:
    """Spots per block: about ``BLOCK_ELEMENTS`` values, at least one spot."""
    return max(1, BLOCK_ELEMENTS // n_genes)


def _metric_order(ks: tuple[int, ...]) -> list[str]:
    return [
        "l1",
        "pearson",
        "pearson_gene",
        *(f"spearman_{k}" for k in ks),
        *(f"recall_{k}" for k in ks),
    ]
