"""Metrics engine: regression metrics (one-shot and streaming) and clustering metrics.

All inputs are (spots, genes) arrays of log1p expression.  See
:mod:`stbench.metrics.catalog` for what every metric key means.
"""

METRICS_VERSION = 3
"""Version of the metric definitions; bumped whenever a metric's value can change for the same
predictions. Every result records it; ``stbench rescore`` brings older results up to date."""

from stbench.metrics.clustering import (
    CLUSTERING_DEFAULTS,
    SlideClustering,
    adjusted_hungarian,
    canonical_order,
    cluster_slide,
    clustering_metrics,
    hungarian_accuracy,
    hungarian_chance,
    leiden_labels,
)
from stbench.metrics.catalog import METRICS, MetricInfo, metric_info
from stbench.metrics.regression import regression_metrics
from stbench.metrics.streaming import RegressionAccumulator

__all__ = [
    "CLUSTERING_DEFAULTS",
    "METRICS",
    "METRICS_VERSION",
    "MetricInfo",
    "RegressionAccumulator",
    "SlideClustering",
    "adjusted_hungarian",
    "canonical_order",
    "cluster_slide",
    "clustering_metrics",
    "hungarian_accuracy",
    "hungarian_chance",
    "leiden_labels",
    "metric_info",
    "regression_metrics",
]
