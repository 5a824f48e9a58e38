"""Streaming regression metrics: feed a test set slide by slide, never all at once."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from stbench.errors import StbenchError
from stbench.metrics import torch_engine
from stbench.metrics.catalog import DEFAULT_KS
from stbench.metrics.regression import RegressionState, block_rows, regression_state
from stbench.metrics.inputs import check_ks, check_pair
from stbench.metrics.workspace import Workspace


class RegressionAccumulator:
    """Accumulate :func:`~stbench.metrics.regression.regression_metrics` over row chunks.

    Call :meth:`update` with any split of the spots into (spots, genes) chunks (a slide
    at a time, or arbitrary row ranges) and :meth:`compute` gives the metrics of their
    concatenation: per-spot metrics are identical, ``pearson_gene`` equal up to float64
    rounding (~1e-15).  Between calls only O(genes) state is kept: sums of per-spot
    scores, and per-gene means and centred co-moments (combined across chunks with the
    pairwise Chan update, see :mod:`stbench.metrics.gene_moments`).

    ``device``: ``None`` or ``"cpu"`` runs the NumPy engine (single-threaded;
    parallelise across processes, e.g. one per model or cohort, if needed).
    ``"cuda"``/``"cuda:N"`` runs the torch engine (:mod:`stbench.metrics.torch_engine`)
    on that GPU, ``"torch-cpu"`` the same engine on the CPU (for testing); chunks may
    then also be torch tensors, and only O(spots + genes) results leave the device.
    Both engines give the same metrics up to float64 rounding.  Other values, or a
    device that is not available, raise :class:`~stbench.errors.StbenchError`.
    """

    def __init__(self, n_genes: int, ks: Iterable[int] = DEFAULT_KS, device: str | None = None) -> None:
        # None: the NumPy engine; otherwise the torch device (validated now).
        self._device = None if device in (None, "cpu") else torch_engine.torch_device(device)
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
        """Add a (spots, genes) chunk of true and predicted log1p expression.

        With a torch device the chunk may also be a pair of torch tensors.
        """
        if self._device is not None:
            y_true, y_pred = torch_engine.check_inputs(y_true, y_pred, self.n_genes)
            if y_true.shape[0] == 0:
                return
            chunk = torch_engine.torch_regression_state(y_true, y_pred, self.ks, self._device)
            self._state = chunk if self._state is None else self._state.merge(chunk)
            return
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
        """Counts of spots/genes/top-k blocks excluded for a constant truth, and of
        scored spots whose top-k boundary fell inside ties.

        Keys ``constant_spots``, ``constant_genes``, ``constant_top_<k>`` and
        ``tied_top_<k>`` (see :meth:`stbench.metrics.regression.RegressionState.excluded`).
        """
        return self._require_state().excluded()

    def _require_state(self) -> RegressionState:
        if self._state is None:
            raise StbenchError("No spots were added to the metrics accumulator.")
        return self._state
