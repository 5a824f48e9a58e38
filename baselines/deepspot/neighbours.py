"""Spatial neighbour sets of spots within one slide."""

from __future__ import annotations

import numpy as np

RADIUS_TOLERANCE = 1e-6
"""Relative slack on the radius, so grid spots at exactly r spacings count despite rounding."""


def neighbour_sets(coords: np.ndarray, radius: float) -> list[np.ndarray]:
    """For each spot, the other spots whose centre lies within ``radius`` of its own.

    A spot is never its own neighbour; other spots at the same position are. The radius is
    inclusive, with a relative tolerance of :data:`RADIUS_TOLERANCE`.

    Args:
        coords: float (n, 2) spot centres (x, y) in slide pixels.
        radius: search radius in the same pixels; a non-finite or negative radius gives no
            neighbours.

    Returns:
        n sorted int64 arrays of row indices into ``coords``.
    """
    n = len(coords)
    if n == 0 or not np.isfinite(radius) or radius < 0:
        return [np.zeros(0, np.int64) for _ in range(n)]
    from scipy.spatial import cKDTree

    points = np.asarray(coords, np.float64)
    found = cKDTree(points).query_ball_point(points, r=radius * (1 + RADIUS_TOLERANCE))
    return [np.array(sorted(j for j in hits if j != i), np.int64) for i, hits in enumerate(found)]


def neighbour_table(sets: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """CSR form of ``sets``.

    Returns:
        (indptr int64 (n + 1,), indices int64 (sum of set sizes,)): the neighbours of spot i are
        ``indices[indptr[i]:indptr[i + 1]]``.
    """
    sizes = np.array([len(s) for s in sets], np.int64)
    indptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    indices = np.concatenate([np.zeros(0, np.int64), *sets]).astype(np.int64)
    return indptr, indices
