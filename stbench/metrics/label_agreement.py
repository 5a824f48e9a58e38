"""How well two labelings of the same spots agree: Hungarian-matched accuracy (raw, its chance
level under shuffled labels, and chance-adjusted), ARI and NMI.

Labels are 1-D arrays of equal length, one per spot, any hashable values. These are the
comparisons of :mod:`stbench.metrics.clustering`, which clusters the true and the predicted
expression of a slide and scores the two labelings with :func:`agreement_scores`.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

from stbench.errors import StbenchError


def hungarian_accuracy(labels_true: np.ndarray, labels_pred: np.ndarray) -> float:
    """Share of spots whose predicted cluster is matched to their true cluster.

    Clusters are matched one to one so as to maximise the number of agreeing spots
    (:func:`scipy.optimize.linear_sum_assignment` on the contingency table). With unequal
    cluster counts the surplus clusters stay unmatched and their spots count as wrong.
    Labels are any hashable values, one per spot.
    """
    labels_true, labels_pred = _check_labels(labels_true, labels_pred)
    table = contingency_matrix(labels_true, labels_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / labels_true.size)


def hungarian_chance(
    labels_true: np.ndarray, labels_pred: np.ndarray, *, n_permutations: int = 1000, seed: int = 0
) -> float:
    """Expected :func:`hungarian_accuracy` when the predicted labels are shuffled across spots.

    Depends only on the cluster sizes of the two labelings. Exact when either labeling is a
    single cluster (the matching then takes the largest cluster of the other); otherwise the
    mean over ``n_permutations`` seeded random permutations. Each permutation is drawn directly
    as its contingency table (multivariate hypergeometric, row by row: the exact distribution of
    the table of a uniformly random permutation), which costs O(clusters^2) instead of O(spots).
    """
    labels_true, labels_pred = _check_labels(labels_true, labels_pred)
    if n_permutations < 1:
        raise StbenchError(f"n_permutations must be a positive integer, got {n_permutations!r}.")
    true_sizes = np.unique(labels_true, return_counts=True)[1]
    pred_sizes = np.unique(labels_pred, return_counts=True)[1]
    n_spots = labels_true.size
    if len(pred_sizes) == 1:
        return float(true_sizes.max() / n_spots)
    if len(true_sizes) == 1:
        return float(pred_sizes.max() / n_spots)
    tables = _random_tables(true_sizes, pred_sizes, n_permutations, np.random.default_rng(seed))
    matched = [table[linear_sum_assignment(table, maximize=True)].sum() for table in tables]
    return float(np.mean(matched) / n_spots)


def adjusted_hungarian(hungarian: float, chance: float) -> float:
    """``(hungarian - chance) / (1 - chance)``; 1.0 when chance is 1 (both labelings one
    cluster, or both one cluster per spot: identical partitions, as ARI scores them)."""
    if chance >= 1.0:
        return 1.0
    return float((hungarian - chance) / (1.0 - chance))


def agreement_scores(labels_true: np.ndarray, labels_pred: np.ndarray, n_permutations: int, seed: int) -> dict[str, float]:
    """Every comparison of two labelings of one slide: hungarian (raw, chance, adjusted; the chance
    from ``n_permutations`` shuffles seeded with ``seed``), ari, nmi and the two cluster counts."""
    hungarian = hungarian_accuracy(labels_true, labels_pred)
    chance = hungarian_chance(labels_true, labels_pred, n_permutations=n_permutations, seed=seed)
    return {
        "hungarian": hungarian,
        "hungarian_chance": chance,
        "hungarian_adjusted": adjusted_hungarian(hungarian, chance),
        "ari": float(adjusted_rand_score(labels_true, labels_pred)),
        "nmi": float(normalized_mutual_info_score(labels_true, labels_pred)),
        "n_clusters_true": float(labels_true.max() + 1),
        "n_clusters_pred": float(labels_pred.max() + 1),
    }


def _random_tables(true_sizes: np.ndarray, pred_sizes: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, true clusters, pred clusters) contingency tables of n random permutations."""
    tables = np.zeros((n, len(true_sizes), len(pred_sizes)), dtype=np.int64)
    remaining = np.tile(pred_sizes.astype(np.int64), (n, 1))  # predicted labels not yet dealt
    for i, size in enumerate(true_sizes[:-1]):
        to_deal = np.full(n, size, dtype=np.int64)
        others = remaining.sum(axis=1)
        for j in range(len(pred_sizes) - 1):
            others -= remaining[:, j]
            tables[:, i, j] = rng.hypergeometric(remaining[:, j], others, to_deal)
            to_deal -= tables[:, i, j]
        tables[:, i, -1] = to_deal
        remaining -= tables[:, i]
    tables[:, -1] = remaining
    return tables


def _check_labels(labels_true: np.ndarray, labels_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels_true, labels_pred = np.asarray(labels_true), np.asarray(labels_pred)
    if labels_true.shape != labels_pred.shape or labels_true.ndim != 1 or labels_true.size == 0:
        raise StbenchError("Label vectors must be 1-D, non-empty and of equal length.")
    return labels_true, labels_pred
