"""Streaming regression metrics: feed a test set slide by slide, never all at once."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from stbench.errors import StbenchError
from stbench.metrics.registry import DEFAULT_KS
from stbench.metrics.regression import RegressionState, block_rows, regression_state
from stbench.metrics.validation import check_ks, check_pair
from stbench.metrics.workspace import Workspace


class RegressionAccumulator:
    """Accumulate :func:`~stbench.metrics.regression.regression_metrics` over row chunks.

    Call :meth:`update` with any split of the spots into (spots, genes) chunks (a slide
    at a time, or arbitrary row ranges) and :meth:`compute` gives the metrics of their
    concatenation: per-spot metrics are identical, ``pearson_gene`` equal up to float64
    rounding (~1e-15).  Between calls only O(genes) state is kept: sums of per-spot
    scores, and per-gene means and centred co-moments (combined across chunks with the
    pairwise Chan update, see :mod:`stbench.metrics.gene_moments`).

    ``device``: only the NumPy CPU engine exists (``None`` or ``"cpu"``); other values
    raise :class:`~stbench.errors.StbenchError`.  A torch/GPU path was left out on
    purpose: the CPU engine is already ~30x faster than a per-spot scipy loop (see
    ``tests/benchmarks``), and a second implementation of the tie-exact ranking would
    double the code to verify.  The engine is single-threaded; parallelise across
    processes (e.g. one per model or cohort) if needed.
    """

    def __init__(self, n_genes: int, ks: Iterable[int] = DEFAULT_KS, device: str | None = None) -> None:
        if device not in (None, "cpu"):
            raise StbenchError(f"Metrics run on the CPU only; device {device!r} is not supported.")
        if n_genes < 1:
            raise StbenchError(f"n_genes must be positive, got {n_genes}.")
        self.n_genes = n_genes
        self.ks = check_ks(ks)
        self._state: RegressionState | None = None
        self._work: Workspace | None = None  # scratch reused across updates

    @property
    def n_spots(self) -> int:
        """Number of spots added so far."""
        return 0 if self._state is None else self._state.n_spots

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        """Add a (spots, genes) chunk of true and predicted log1p expression."""
        y_true, y_pred = check_pair(y_true, y_pred, self.n_genes)
        if y_true.shape[0] == 0:
            return
        if self._work is None:
            self._work = Workspace.allocate(block_rows(self.n_genes), self.n_genes)
        chunk = regression_state(y_true, y_pred, self.ks, self._work)
        self._state = chunk if self._state is None else self._state.merge(chunk)

    def compute(self) -> dict[str, float]:
        """Metrics of all spots added so far (keys as in ``regression_metrics``)."""
        return self._require_state().metrics()

    def excluded(self) -> dict[str, int]:
        """Counts of spots/genes/top-k blocks excluded for a constant truth.

        Keys ``constant_spots``, ``constant_genes`` and ``constant_top_<k>``.
        """
        return self._require_state().excluded()

    def _require_state(self) -> RegressionState:
        if self._state is None:
            raise StbenchError("No spots were added to the metrics accumulator.")
        return self._state
