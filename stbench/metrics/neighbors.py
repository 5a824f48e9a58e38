"""The weighted neighbour graph scanpy clusters on, rebuilt in NumPy/SciPy.

For a (spots, genes) log1p matrix this reproduces scanpy 1.11's standard pipeline

    sc.pp.pca(adata, n_comps=n_pcs)                    # zero-centred, ARPACK, random_state 0
    sc.pp.neighbors(adata, n_neighbors=n_neighbors, n_pcs=n_pcs)   # exact kNN, UMAP weights

without importing scanpy or umap: their connectivities are numba-compiled on first use, about
17-30 s of start-up in every process (each worker of ``stbench run --jobs``, each test run),
while the NumPy version below costs a few milliseconds per slide. The tests compare it with
``sc.pp.neighbors`` on several matrices.

The steps, with scanpy's conventions:

1. Representation: with more than 50 genes (scanpy's ``settings.N_PCS``), the first ``n_pcs``
   principal components of the float32 matrix, column-centred and not scaled, by scikit-learn's
   ARPACK solver started from ``RandomState(0)`` (``sc.pp.pca``'s defaults for dense data);
   ``n_pcs`` is capped at ``min(spots, genes) - 1``. With 50 genes or fewer, scanpy's neighbour
   search uses the expression matrix itself, and so does this one.
2. Neighbours: exact Euclidean search; each spot's ``n_neighbors`` nearest spots *counting the
   spot itself*, so 14 others for the default 15 (scanpy's count). A slide with fewer spots than
   ``n_neighbors`` uses ``1 + spots // 2``, as scanpy does. Scanpy switches to an approximate
   search (pynndescent) from 8,192 spots; this search stays exact.
3. Weights: UMAP's fuzzy simplicial set (``umap.umap_.fuzzy_simplicial_set`` with
   ``local_connectivity=1``, ``set_op_mix_ratio=1``): per spot, ``rho`` is the distance to the
   nearest other spot at a positive distance and ``sigma`` is found by a 64-step bisection so
   that ``sum_j exp(-(d_j - rho) / sigma) = log2(n_neighbors)`` over the neighbours; a link
   weighs ``w = exp(-(d - rho) / sigma)`` (1 for the nearest); the directed weights are merged
   by the fuzzy union ``w_ij + w_ji - w_ij * w_ji``. Computed in float32 like umap's numba code.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

SCANPY_N_PCS = 50
"""scanpy's ``settings.N_PCS``: with this many genes or fewer, ``sc.pp.neighbors`` searches the
expression matrix itself instead of its principal components."""

_FLOAT32_MAX = np.float32(np.finfo(np.float32).max)
_SMOOTH_K_TOLERANCE = 1e-5
_MIN_K_DIST_SCALE = 1e-3
_BISECTION_STEPS = 64


def representation(x: np.ndarray, n_pcs: int) -> np.ndarray:
    """(spots, d) float32 coordinates of the neighbour search for a (spots, genes) matrix.

    ``d = min(n_pcs, spots - 1, genes - 1)`` principal-component scores, or the matrix itself
    when it has at most :data:`SCANPY_N_PCS` genes. Needs at least two spots.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.shape[1] <= SCANPY_N_PCS:
        return x
    n_components = min(n_pcs, x.shape[0] - 1, x.shape[1] - 1)
    pca = PCA(n_components=n_components, svd_solver="arpack", random_state=np.random.RandomState(0))
    return pca.fit_transform(x).astype(np.float32, copy=False)


def nearest_neighbors(points: np.ndarray, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    """Each spot's nearest spots, itself included: ((spots, k) int64 indices, float32 distances).

    Rows are sorted by distance, a spot's distance to itself is exactly 0; ``k = n_neighbors``,
    or ``1 + spots // 2`` when ``n_neighbors`` exceeds the spot count (scanpy's rule).
    Distances are in the units of ``points``.
    """
    n_spots = points.shape[0]
    k = n_neighbors if n_neighbors <= n_spots else 1 + n_spots // 2
    # scanpy asks scikit-learn's KNeighborsTransformer for min(n-1, k) neighbours, which adds the
    # spot itself, then keeps the first k columns; the same call gives the same order of ties.
    search = NearestNeighbors(n_neighbors=min(n_spots - 1, k) + 1, algorithm="brute", metric="euclidean")
    distances, indices = search.fit(points).kneighbors(points)
    # The distance of a spot to itself comes out of the search as rounding noise (~1e-7), which
    # umap would take for its nearest neighbour; scanpy zeroes it before computing weights.
    distances[indices == np.arange(n_spots)[:, None]] = 0.0
    return indices[:, :k], distances[:, :k].astype(np.float32)


def umap_connectivities(indices: np.ndarray, distances: np.ndarray) -> sparse.csr_matrix:
    """Symmetric (spots, spots) float32 UMAP connectivities of a kNN table (self included).

    ``indices``/``distances`` as returned by :func:`nearest_neighbors`; the number of columns is
    the ``n_neighbors`` of the bandwidth target ``log2(n_neighbors)``.
    """
    n_spots, k = indices.shape
    sigmas, rhos = _smooth_knn_dist(distances, float(k))
    offsets = distances - rhos[:, None]
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        weights = np.exp(-(offsets / sigmas[:, None]))
    weights[(offsets <= 0) | (sigmas[:, None] == 0)] = np.float32(1.0)
    weights[indices == np.arange(n_spots)[:, None]] = np.float32(0.0)
    rows = np.repeat(np.arange(n_spots, dtype=np.int32), k)
    directed = sparse.coo_matrix(
        (weights.astype(np.float32).ravel(), (rows, indices.ravel().astype(np.int32))), shape=(n_spots, n_spots)
    )
    directed.eliminate_zeros()
    transpose = directed.transpose()
    union = directed + transpose - directed.multiply(transpose)
    union.eliminate_zeros()
    return union.tocsr()


def scanpy_connectivities(x: np.ndarray, *, n_pcs: int, n_neighbors: int) -> sparse.csr_matrix:
    """``adata.obsp["connectivities"]`` of scanpy's ``pca`` -> ``neighbors`` on a (spots, genes)
    matrix with at least two spots: symmetric (spots, spots) float32, zero diagonal."""
    return umap_connectivities(*nearest_neighbors(representation(x, n_pcs), n_neighbors))


def _smooth_knn_dist(distances: np.ndarray, k: float) -> tuple[np.ndarray, np.ndarray]:
    """umap's per-spot ``sigma`` and ``rho`` (float32), all spots bisected at once.

    Follows ``umap.umap_.smooth_knn_dist`` step for step in float32 (its numba locals), summing
    the neighbours in the same order, so the results agree to the last bits of ``exp``.
    """
    n_spots = distances.shape[0]
    positive = distances > 0
    has_positive = positive.any(axis=1)
    rho = np.where(has_positive, distances[np.arange(n_spots), positive.argmax(axis=1)], 0).astype(np.float32)
    target = np.log2(k)
    lo = np.zeros(n_spots, dtype=np.float32)
    hi = np.full(n_spots, _FLOAT32_MAX, dtype=np.float32)
    mid = np.ones(n_spots, dtype=np.float32)
    active = np.ones(n_spots, dtype=bool)
    offsets = distances - rho[:, None]
    for _ in range(_BISECTION_STEPS):
        psum = np.zeros(n_spots, dtype=np.float32)
        with np.errstate(over="ignore"):
            for j in range(1, distances.shape[1]):
                d = offsets[:, j]
                psum += np.where(d > 0, np.exp(-(d / mid)), np.float32(1.0))
        active &= ~(np.abs(psum.astype(np.float64) - target) < _SMOOTH_K_TOLERANCE)
        if not active.any():
            break
        above = active & (psum > target)
        below = active & ~above
        hi = np.where(above, mid, hi)
        lo = np.where(below, mid, lo)
        bisect = above | (below & (hi < _FLOAT32_MAX))
        mid = np.where(bisect, (lo + hi) / np.float32(2.0), np.where(below, mid * np.float32(2.0), mid))
    # umap compares in float64 and stores float32; the floor only bites on near-duplicate spots.
    row_means = distances.mean(axis=1, dtype=np.float64)
    floor = _MIN_K_DIST_SCALE * np.where(rho > 0, row_means, distances.mean(dtype=np.float64))
    return np.maximum(mid, floor).astype(np.float32), rho
