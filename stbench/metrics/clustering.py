"""Clustering agreement between true and predicted expression of one slide.

Protocol (GenST paper, Appendix C / Table 3): cluster the true and the predicted
(spots, genes) log1p matrices *separately* with Leiden, then compare the two labelings
with Hungarian-matched accuracy, ARI and NMI.

Each matrix is clustered by :func:`leiden_labels`:

1. PCA: the matrix is column-centred (not scaled) and projected on its first ``n_pcs``
   principal components (an exact SVD below 1e6 values, else scikit-learn's randomized
   SVD seeded with ``seed``, about twice as fast as ARPACK on a 4,000 x 3,000 matrix);
2. kNN graph: each spot is linked to its ``n_neighbors`` nearest other spots (exact
   Euclidean search in PC space); the graph is the undirected, unweighted union of
   those links;
3. Leiden: modularity at ``resolution``, ``n_iterations`` passes, seeded (the
   igraph flavor seeds igraph's global random generator for the call and then
   restores Python's ``random``, as scanpy does).  ``flavor``
   ``"igraph"`` runs :meth:`igraph.Graph.community_leiden`; ``"leidenalg"`` runs
   :func:`leidenalg.find_partition` with ``RBConfigurationVertexPartition`` (the same
   modularity objective).

The graph is built here with scikit-learn rather than by ``scanpy.pp.neighbors``: the
latter's UMAP connectivities are JIT-compiled by numba on first use (about 30 s cold),
and every step above stays explicit and deterministic under ``seed``.
"""

from __future__ import annotations

import random
from typing import Any

import igraph
import leidenalg
import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix
from sklearn.neighbors import NearestNeighbors

from stbench.errors import StbenchError
from stbench.metrics.validation import check_pair

CLUSTERING_DEFAULTS: dict[str, Any] = {
    "n_pcs": 30,
    "n_neighbors": 15,
    "resolution": 1.0,
    "flavor": "igraph",
    "n_iterations": 2,
}
"""Leiden settings (scanpy's conventions and its recommended future defaults).

* ``n_pcs=30``: below scanpy's 50-component default because a slide has only a few
  thousand spots; the leading components carry the tissue structure, later ones are
  mostly noise.  Capped at ``min(spots - 1, genes - 1)``.
* ``n_neighbors=15``: scanpy's default value (counted here without the spot itself);
  capped at ``spots - 1``.
* ``resolution=1.0``: the standard modularity resolution.
* ``flavor="igraph"`` with ``n_iterations=2``: igraph's C implementation and the pass
  count that scanpy announces as its future default (2 is also the default of igraph
  and leidenalg; a negative value iterates until the partition stops improving).
"""


def leiden_labels(x: np.ndarray, *, seed: int = 0, **params: Any) -> np.ndarray:
    """Leiden cluster of every spot of one (spots, genes) log1p matrix.

    ``params`` override :data:`CLUSTERING_DEFAULTS`.  Returns (spots,) int64 labels
    0..c-1.  A matrix whose spots are all identical (a constant prediction, or a single
    spot) is one cluster, all zeros.  Deterministic for a given ``seed`` (on a given
    machine: the PCA goes through BLAS).
    """
    settings = _settings(params)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise StbenchError(f"Expected a non-empty (spots, genes) matrix, got shape {x.shape}.")
    if not np.isfinite(x).all():
        raise StbenchError("Expression matrix contains NaN or infinite values.")
    n_spots, n_genes = x.shape
    if (x == x[0]).all():
        return np.zeros(n_spots, dtype=np.int64)
    graph = _knn_graph(_principal_components(x, settings["n_pcs"], seed), settings["n_neighbors"])
    return _leiden(graph, settings, seed)


def hungarian_accuracy(labels_true: np.ndarray, labels_pred: np.ndarray) -> float:
    """Share of spots whose predicted cluster is matched to their true cluster.

    Clusters are matched one to one so as to maximise the number of agreeing spots
    (:func:`scipy.optimize.linear_sum_assignment` on the contingency table).  With
    unequal cluster counts the surplus clusters stay unmatched and their spots count
    as wrong.  Labels are any hashable values, one per spot.
    """
    labels_true, labels_pred = np.asarray(labels_true), np.asarray(labels_pred)
    if labels_true.shape != labels_pred.shape or labels_true.ndim != 1 or labels_true.size == 0:
        raise StbenchError("Label vectors must be 1-D, non-empty and of equal length.")
    table = contingency_matrix(labels_true, labels_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / labels_true.size)


def clustering_metrics(y_true: np.ndarray, y_pred: np.ndarray, *, seed: int = 0, **params: Any) -> dict[str, float]:
    """Agreement of Leiden clusters of true and predicted expression of ONE slide.

    ``y_true``/``y_pred`` are (spots, genes) log1p matrices; ``params`` override
    :data:`CLUSTERING_DEFAULTS`.  Returns ``hungarian``, ``ari`` and ``nmi`` (all higher
    is better, 1 for identical clusterings).  A one-spot slide has no clustering to
    compare and returns NaN for all three.
    """
    y_true, y_pred = check_pair(y_true, y_pred)
    if y_true.shape[0] < 2:
        return {"hungarian": float("nan"), "ari": float("nan"), "nmi": float("nan")}
    labels_true = leiden_labels(y_true, seed=seed, **params)
    labels_pred = leiden_labels(y_pred, seed=seed, **params)
    return {
        "hungarian": hungarian_accuracy(labels_true, labels_pred),
        "ari": float(adjusted_rand_score(labels_true, labels_pred)),
        "nmi": float(normalized_mutual_info_score(labels_true, labels_pred)),
    }


def _settings(params: dict[str, Any]) -> dict[str, Any]:
    unknown = set(params) - set(CLUSTERING_DEFAULTS)
    if unknown:
        raise StbenchError(f"Unknown clustering parameter(s) {sorted(unknown)}; known: {sorted(CLUSTERING_DEFAULTS)}.")
    settings = {**CLUSTERING_DEFAULTS, **params}
    if settings["flavor"] not in ("igraph", "leidenalg"):
        raise StbenchError(f"flavor must be 'igraph' or 'leidenalg', got {settings['flavor']!r}.")
    for name in ("n_pcs", "n_neighbors"):
        if not isinstance(settings[name], int) or settings[name] < 1:
            raise StbenchError(f"{name} must be a positive integer, got {settings[name]!r}.")
    if not isinstance(settings["n_iterations"], int) or settings["n_iterations"] == 0:
        raise StbenchError(f"n_iterations must be a non-zero integer, got {settings['n_iterations']!r}.")
    if not settings["resolution"] > 0:
        raise StbenchError(f"resolution must be positive, got {settings['resolution']!r}.")
    return settings


def _principal_components(x: np.ndarray, n_pcs: int, seed: int) -> np.ndarray:
    """(spots, n) PC scores with n = min(n_pcs, spots - 1, genes - 1); raw x if n < 1."""
    n_components = min(n_pcs, x.shape[0] - 1, x.shape[1] - 1)
    if n_components < 1:
        return x
    # An exact SVD is fastest on small slides; randomized SVD wins from about 1e6 values.
    solver = "full" if x.size < 1_000_000 else "randomized"
    return PCA(n_components=n_components, svd_solver=solver, random_state=seed).fit_transform(x)


def _knn_graph(points: np.ndarray, n_neighbors: int) -> igraph.Graph:
    """Undirected unweighted graph linking each spot to its nearest other spots."""
    n_spots = points.shape[0]
    k = min(n_neighbors, n_spots - 1)
    links = NearestNeighbors(n_neighbors=k).fit(points).kneighbors_graph(mode="connectivity")
    links = (links + links.T).tocoo()
    upper = links.row < links.col
    edges = np.column_stack([links.row[upper], links.col[upper]])
    return igraph.Graph(n=n_spots, edges=edges.tolist(), directed=False)


def _leiden(graph: igraph.Graph, settings: dict[str, Any], seed: int) -> np.ndarray:
    if settings["flavor"] == "leidenalg":
        partition = leidenalg.find_partition(
            graph,
            leidenalg.RBConfigurationVertexPartition,
            resolution_parameter=settings["resolution"],
            n_iterations=settings["n_iterations"],
            seed=seed,
        )
        membership = partition.membership
    else:
        igraph.set_random_number_generator(random.Random(seed))
        try:
            membership = graph.community_leiden(
                objective_function="modularity",
                resolution=settings["resolution"],
                n_iterations=settings["n_iterations"],
            ).membership
        finally:
            igraph.set_random_number_generator(random)
    return np.asarray(membership, dtype=np.int64)
