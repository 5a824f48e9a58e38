"""Score predictions of test slides exactly as a cell does: the one place metrics are computed
for results (``stbench run``, ``stbench rescore``, ``stbench score`` and ``validate`` all call it).

Input: the fold's test slides (with their true expression) and, for each, a (spots x genes)
log1p prediction on the cohort's panel, rounded to the stored dtype (float16, see
:data:`stbench.results.checks.STORED_DTYPE`): the metrics are computed from exactly the values a
result keeps, so rescoring them gives the same numbers, bit for bit. Output: the pooled metrics, every metric
per slide, the excluded counts, and the cluster labels of each slide.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from stbench.data.spots import Slide
from stbench.errors import StbenchError
from stbench.metrics import CLUSTERING_DEFAULTS, RegressionAccumulator, cluster_slide, regression_metrics
from stbench.metrics.clustering import LEADERBOARD_KEYS
from stbench.results.checks import as_stored, checked_matrix


@dataclass
class Scores:
    """What scoring a fold's test slides produced (the metric part of a result document)."""

    metrics: dict[str, float]
    per_slide: dict[str, dict[str, float]]
    excluded: dict
    n_test_spots: int
    seconds: float
    labels: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    """Per slide, (true labels, predicted labels) of the first clustering seed."""


def check_prediction(pred: object, n_spots: int, n_genes: int, source: str, slide: str) -> np.ndarray:
    """``pred`` rounded to the stored dtype, as float32 (n_spots, n_genes)
    (:func:`~stbench.results.checks.checked_matrix`), or one sentence saying what is wrong with it."""
    values, problems = checked_matrix(pred, (n_spots, n_genes))
    if problems:
        raise StbenchError(f"{source} returned predictions for slide {slide} with {problems[0]}.")
    return values


def score_slides(
    n_genes: int, pairs: Iterable[tuple[Slide, np.ndarray]], *, seed: int, device: str | None = None
) -> Scores:
    """Score (test slide, prediction) pairs one slide at a time, without holding the whole set.

    ``pairs`` yields each test slide (its ``expression()`` is the truth) with its
    (slide.n_spots x n_genes) log1p prediction, checked (:func:`check_prediction`); it is scored
    as rounded to the stored dtype (:func:`~stbench.results.checks.as_stored`, a no-op on checked
    values), so the metrics are those of the values kept. ``device="cuda"`` pools the regression metrics
    with the torch engine (the same values to 1e-6). ``seconds`` counts metric time only, not
    the time ``pairs`` takes to yield (a model's predict).

    Clustering (:func:`stbench.metrics.cluster_slide`, ``CLUSTERING_DEFAULTS``) runs per slide
    with Leiden seeds ``seed, seed + 1, ...``: ``per_slide`` holds each slide's mean over seeds,
    the seed spread (``*_seed_std``), ``hungarian_chance`` and cluster counts; ``metrics`` holds
    the mean over slides of the leaderboard scores (hungarian, hungarian_adjusted, ari, nmi).
    """
    acc = RegressionAccumulator(n_genes, device=device)
    per_slide: dict[str, dict[str, float]] = {}
    clustering: dict[str, list[float]] = {}
    labels: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    seconds = 0.0
    n_spots = 0
    for slide, pred in pairs:
        t0 = time.perf_counter()
        truth = np.asarray(slide.expression(), dtype=np.float32)
        pred = as_stored(pred)
        acc.update(truth, pred)
        scores = regression_metrics(truth, pred)
        clus = cluster_slide(truth, pred, seed=seed, **CLUSTERING_DEFAULTS)
        scores.update(clus.scores)
        labels[slide.id] = (clus.labels_true, clus.labels_pred)
        for key in LEADERBOARD_KEYS:
            clustering.setdefault(key, []).append(clus.scores[key])
        per_slide[slide.id] = {"n_spots": slide.n_spots, **scores}
        n_spots += slide.n_spots
        seconds += time.perf_counter() - t0
    metrics = acc.compute()
    metrics.update({k: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for k, v in clustering.items()})
    return Scores(metrics, per_slide, acc.excluded(), n_spots, seconds, labels)
