"""Integer grid positions of a slide's spots, for models that index or convolve over the array.

The stored slides give spot centres in slide pixels, not the array (row, column) of the
capture slide, so models that need array coordinates (HisToGene's position embeddings,
TRIPLEX's convolutional position encoding) derive them here: each axis is quantised in steps of
a fraction of the slide's spot spacing (:meth:`stbench.data.spots.Slide.spot_spacing`, the
median nearest-centre distance), counted from the slide's smallest coordinate.

* ``step=1`` (one spot spacing): on a square ST array the positions are the array indices; on
  a hexagonal Visium lattice adjacent spots land in adjacent cells, a few pairs share one.
* ``step=0.5`` (half a spacing): every spot of a square or hexagonal lattice gets its own cell
  (on Visium, x is the array column; on ST both indices are doubled).
"""

from __future__ import annotations

import numpy as np


def grid_positions(coords: np.ndarray, spacing: float, step: float) -> np.ndarray:
    """int64 (n, 2) cell indices (x, y), each axis starting at 0.

    Args:
        coords: float (n, 2) spot centres (x, y) in slide pixels.
        spacing: the slide's spot spacing in the same pixels; a non-finite or non-positive
            spacing (a one-spot slide) puts every spot in cell (0, 0).
        step: cell side as a fraction of ``spacing``.
    """
    coords = np.asarray(coords, np.float64).reshape(-1, 2)
    if len(coords) == 0 or not np.isfinite(spacing) or spacing <= 0:
        return np.zeros((len(coords), 2), np.int64)
    cells = np.rint((coords - coords.min(axis=0)) / (spacing * step))
    return cells.astype(np.int64)
