"""Reusable scratch buffers for scoring blocks of spots.

Allocating fresh (spots, genes) temporaries for every block can cost more than the
arithmetic (each new page is faulted in and zeroed, slowly so in virtual machines), so
the engine allocates these buffers once per stream and writes into them with ``out=``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Workspace:
    """Scratch arrays of shape (rows, genes): three float64, two int64, one float32."""

    f64_a: np.ndarray
    f64_b: np.ndarray
    f64_c: np.ndarray
    keys_true: np.ndarray
    keys_pred: np.ndarray
    f32: np.ndarray

    @classmethod
    def allocate(cls, rows: int, genes: int) -> Workspace:
        """Buffers for blocks of up to ``rows`` spots (44 bytes per value)."""
        shape = (rows, genes)
        return cls(
            np.empty(shape, np.float64),
            np.empty(shape, np.float64),
            np.empty(shape, np.float64),
            np.empty(shape, np.int64),
            np.empty(shape, np.int64),
            np.empty(shape, np.float32),
        )

    @property
    def rows(self) -> int:
        """The most spots a block may have."""
        return self.f32.shape[0]

    def first_rows(self, n: int) -> Workspace:
        """Views of the first ``n`` rows (for a shorter last block)."""
        return Workspace(*(buffer[:n] for buffer in vars(self).values()))
