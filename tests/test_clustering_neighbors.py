"""The NumPy neighbour graph: the properties of scanpy's UMAP connectivities, checked from
first principles (the comparison with scanpy itself is in test_clustering_scanpy.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from stbench.metrics.neighbors import (
    SCANPY_N_PCS,
    nearest_neighbors,
    representation,
    scanpy_connectivities,
    umap_connectivities,
)


def _points(seed: int, n: int = 120, d: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def test_nearest_neighbors_are_the_exact_ones_self_first():
    points = _points(0)
    indices, distances = nearest_neighbors(points, 15)
    assert indices.shape == distances.shape == (120, 15) and distances.dtype == np.float32
    np.testing.assert_array_equal(indices[:, 0], np.arange(120))
    assert (distances[:, 0] == 0).all()
    full = cdist(points, points)
    np.testing.assert_array_equal(np.sort(indices, axis=1), np.sort(np.argsort(full, axis=1)[:, :15], axis=1))
    np.testing.assert_allclose(distances, np.take_along_axis(full, indices, axis=1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("n_spots", "k"), [(15, 15), (14, 8), (4, 3), (2, 2)])
def test_few_spots_use_scanpys_neighbour_count(n_spots, k):
    indices, _ = nearest_neighbors(_points(1, n=n_spots), 15)
    assert indices.shape == (n_spots, k)


def test_connectivities_are_the_fuzzy_union_of_calibrated_weights():
    points = _points(2)
    indices, distances = nearest_neighbors(points, 15)
    graph = umap_connectivities(indices, distances).toarray()
    assert graph.dtype == np.float32
    np.testing.assert_array_equal(graph, graph.T)
    assert (np.diag(graph) == 0).all() and graph.max() <= 1.0
    linked = np.zeros_like(graph, dtype=bool)
    np.put_along_axis(linked, indices, True, axis=1)
    np.fill_diagonal(linked, False)
    np.testing.assert_array_equal(graph > 0, linked | linked.T)  # links: kNN in either direction
    # Rebuild each directed weight from the definition and merge them by the fuzzy union.
    for i in range(0, 120, 7):
        for j in indices[i, 1:]:
            w, w_reverse = _directed_weight(i, j, indices, distances), _directed_weight(j, i, indices, distances)
            assert graph[i, j] == pytest.approx(w + w_reverse - w * w_reverse, rel=1e-4, abs=1e-6)
        assert graph[i, indices[i, 1]] == pytest.approx(1.0)  # the nearest neighbour weighs 1


def _directed_weight(i: int, j: int, indices: np.ndarray, distances: np.ndarray) -> float:
    """Weight of i -> j from i's calibration, 0 when j is not among i's neighbours: with rho the
    distance to i's nearest other spot, sigma solves sum_j exp(-(d_j - rho) / sigma) = log2(k)
    over i's neighbours (itself excluded), found here by a float64 bisection."""
    row = list(indices[i])
    if j not in row:
        return 0.0
    d = distances[i, 1:].astype(np.float64)
    rho = d[0]
    lo, hi = 1e-6, 100.0
    for _ in range(200):
        sigma = (lo + hi) / 2
        lo, hi = (lo, sigma) if np.exp(-(d - rho) / sigma).sum() > np.log2(indices.shape[1]) else (sigma, hi)
    return float(np.exp(-(distances[i, row.index(j)] - rho) / sigma))


def test_representation_is_pca_above_fifty_genes_and_the_matrix_below():
    rng = np.random.default_rng(3)
    small = rng.normal(size=(40, SCANPY_N_PCS)).astype(np.float32)
    np.testing.assert_array_equal(representation(small, 30), small)
    wide = rng.normal(size=(40, 200))
    scores = representation(wide, 30)
    assert scores.shape == (40, 30) and scores.dtype == np.float32
    centred = wide - wide.mean(axis=0)
    _, s, _ = np.linalg.svd(centred, full_matrices=False)
    np.testing.assert_allclose(np.linalg.norm(scores, axis=0), s[:30], rtol=1e-4)  # exact leading PCs
    assert representation(wide[:10], 30).shape == (10, 9)  # capped at spots - 1


def test_scanpy_connectivities_ignore_a_gene_shift_and_scale_with_nothing_else():
    x = np.random.default_rng(4).normal(size=(80, 100)).astype(np.float32)
    graph = scanpy_connectivities(x, n_pcs=30, n_neighbors=15)
    shifted = scanpy_connectivities(x + 3.0, n_pcs=30, n_neighbors=15)  # PCA centres each gene
    np.testing.assert_allclose(graph.toarray(), shifted.toarray(), atol=1e-4)
