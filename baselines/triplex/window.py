"""TRIPLEX's neighbour window, assembled from the neighbouring spots' patches.

TRIPLEX cuts a 1120 x 1120 px region around each spot from the whole-slide image into 5 x 5
tiles of 224 px and encodes each tile. stbench stores only the spot patches, so the window is
built from them: a ``side`` x ``side`` grid of square cells, one spot spacing wide, centred on
the spot; each cell holds the spot whose centre is nearest to the cell's centre when that spot
lies within the cell's circumscribed circle (half a diagonal, ``spacing / sqrt(2)``), and is
empty otherwise (outside the tissue, past the slide's edge, or between lattice rows). The
centre cell always holds the spot itself. Rows of the window are row-major from the top-left
(smallest x and y).
"""

from __future__ import annotations

import numpy as np


def neighbour_window(coords: np.ndarray, spacing: float, side: int) -> np.ndarray:
    """int64 (n, side * side): the spot row in each window cell of each spot, -1 where empty.

    Args:
        coords: float (n, 2) spot centres (x, y) in slide pixels.
        spacing: cell side in the same pixels (the slide's spot spacing); a non-finite or
            non-positive spacing (a one-spot slide) leaves every cell but the centre empty.
        side: cells per side (odd).
    """
    if side < 1 or side % 2 == 0:
        raise ValueError(f"the window side must be a positive odd number, got {side}")
    coords = np.asarray(coords, np.float64).reshape(-1, 2)
    n, half = len(coords), side // 2
    out = np.full((n, side * side), -1, np.int64)
    if n == 0:
        return out
    out[:, half * side + half] = np.arange(n)
    if not np.isfinite(spacing) or spacing <= 0:
        return out
    from scipy.spatial import cKDTree

    tree = cKDTree(coords)
    for cy in range(side):
        for cx in range(side):
            if cx == half and cy == half:
                continue
            centres = coords + spacing * np.array([cx - half, cy - half], np.float64)
            dist, idx = tree.query(centres, k=1)
            out[:, cy * side + cx] = np.where(dist <= spacing / np.sqrt(2), idx, -1)
    return out
