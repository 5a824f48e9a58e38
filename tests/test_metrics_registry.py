"""Metric registry: every key the engines return is described, with its direction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stbench.errors import StbenchError
from stbench.metrics import METRICS, MetricInfo, clustering_metrics, metric_info, regression_metrics


def test_every_returned_key_is_registered():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 8))
    clustering_keys = set(clustering_metrics(x, x))
    keys = set(regression_metrics(x, x + 1)) | clustering_keys
    assert keys == set(METRICS)
    for name in keys:
        assert METRICS[name].name == name
        assert METRICS[name].kind == ("clustering" if name in clustering_keys else "regression")


def test_direction():
    assert METRICS["l1"].higher_is_better is False
    assert all(info.higher_is_better for name, info in METRICS.items() if name != "l1")


def test_metric_info_handles_any_k():
    info = metric_info("spearman_7")
    assert info == MetricInfo(info.name, True, info.description, "regression", (-1.0, 1.0))
    assert metric_info("recall_12").valid_range == (0.0, 1.0)
    assert info.name == "spearman_7" and "7" in info.description
    assert metric_info("recall_12").higher_is_better
    assert metric_info("recall_50") is METRICS["recall_50"]
    for bad in ("spearman_0", "spearman_x", "recall_", "pearsonr"):
        with pytest.raises(StbenchError):
            metric_info(bad)


def test_metric_info_is_frozen():
    with pytest.raises(AttributeError):
        METRICS["l1"].higher_is_better = True  # type: ignore[misc]


def test_every_metric_has_its_valid_range():
    bounded = {"l1": (0.0, math.inf), "pearson": (-1.0, 1.0), "pearson_gene": (-1.0, 1.0), "hungarian": (0.0, 1.0),
               "ari": (-1.0, 1.0), "nmi": (0.0, 1.0)}
    for name, info in METRICS.items():
        low, high = info.valid_range
        assert low < high
        if name in bounded:
            assert (low, high) == bounded[name]
    assert METRICS["hungarian_adjusted"].valid_range == (-math.inf, math.inf)  # below 0 when worse than chance
