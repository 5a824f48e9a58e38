"""score_slides' clustering part: per-slide seed means and spreads, pooled leaderboard scores,
and the first seed's labels kept for the saved predictions."""

from __future__ import annotations

import numpy as np
import pytest

from stbench.results.checks import as_stored
from stbench.data.spots import Slide
from stbench.metrics import CLUSTERING_DEFAULTS, cluster_slide, leiden_labels, metric_info
from stbench.metrics.clustering import LEADERBOARD_KEYS
from stbench.results.scoring import score_slides
from tests.clustering_data import domains_slide


def _slide(slide_id: str, expression: np.ndarray) -> Slide:
    n = expression.shape[0]
    return Slide(
        id=slide_id, technology="Visium", organ="Brain", patient=None, species=None,
        barcodes=np.array([f"s{i}" for i in range(n)]), coords=np.zeros((n, 2), np.float32), patch_key=slide_id,
        _patches=lambda rows: np.zeros((len(rows), 224, 224, 3), np.uint8), _expression=lambda: expression,
    )


def test_score_slides_keeps_seed_means_spreads_and_first_labels():
    truths = {"a": domains_slide(21, n_spots=150), "b": domains_slide(22, n_spots=120)}
    rng = np.random.default_rng(0)
    preds = {
        "a": (truths["a"] + rng.normal(0, 1.5, truths["a"].shape)).astype(np.float32),
        "b": np.tile(truths["b"].mean(axis=0), (120, 1)),  # a constant prediction
    }
    scores = score_slides(80, [(_slide(k, truths[k]), preds[k]) for k in truths], seed=7)
    preds = {k: as_stored(v) for k, v in preds.items()}  # what score_slides scores: the stored float16 values

    for key in ("a", "b"):
        expected = cluster_slide(truths[key], preds[key], seed=7, **CLUSTERING_DEFAULTS)
        row = scores.per_slide[key]
        assert {k: row[k] for k in expected.scores} == pytest.approx(expected.scores, nan_ok=True)
        assert {"hungarian_chance", "hungarian_seed_std", "ari_seed_std", "n_clusters_pred"} <= set(row)
        labels_true, labels_pred = scores.labels[key]
        np.testing.assert_array_equal(labels_true, leiden_labels(truths[key], seed=7))
        np.testing.assert_array_equal(labels_pred, leiden_labels(preds[key], seed=7))
    assert scores.per_slide["b"]["hungarian_adjusted"] == 0.0 < scores.per_slide["b"]["hungarian"]

    clustering = {k for k in scores.metrics if metric_info(k).kind == "clustering"}
    assert clustering == set(LEADERBOARD_KEYS)  # no chance or seed spread on the leaderboard
    for key in LEADERBOARD_KEYS:
        assert scores.metrics[key] == pytest.approx(np.mean([scores.per_slide[s][key] for s in ("a", "b")]))
