"""What each metric means: name, direction, description and kind (for the leaderboard).

Correlation metrics leave out spots, genes or top-k blocks whose true values are
constant (a constant spot is also left out of recall), and score a constant prediction 0
(see :mod:`stbench.metrics.regression`).  No metric depends on the order of the genes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from stbench.errors import StbenchError

DEFAULT_KS: tuple[int, ...] = (50, 200, 1000)


@dataclass(frozen=True)
class MetricInfo:
    """Description of one metric key; ``higher_is_better`` says which value to bold;
    ``valid_range`` (low, high) is where every value of it must lie (``stbench validate``)."""

    name: str
    higher_is_better: bool
    description: str
    kind: Literal["regression", "clustering"]
    valid_range: tuple[float, float] = (-math.inf, math.inf)


def _spearman(k: int) -> MetricInfo:
    return MetricInfo(
        f"spearman_{k}",
        True,
        f"Spearman correlation per spot over the genes whose true expression is at least the "
        f"spot's {k}-th highest ({k} genes, more when that value is tied; k capped at the panel "
        "size), average ranks for ties, mean over spots.",
        "regression",
        (-1.0, 1.0),
    )


def _recall(k: int) -> MetricInfo:
    return MetricInfo(
        f"recall_{k}",
        True,
        f"Per spot, the expected share of the {k} most expressed true genes that are also among "
        f"the {k} highest predicted, ties broken at random on both sides (k capped at the panel "
        "size), mean over spots.",
        "regression",
        (0.0, 1.0),
    )


_FIXED = (
    MetricInfo("l1", False, "Mean absolute error of log1p expression over all spots and genes.", "regression",
               (0.0, math.inf)),
    MetricInfo(
        "pearson",
        True,
        "Pearson correlation per spot across the panel genes, mean over spots (GenST, Table 2).",
        "regression",
        (-1.0, 1.0),
    ),
    MetricInfo(
        "pearson_gene",
        True,
        "Pearson correlation per gene across spots, mean over genes (HEST-Benchmark).",
        "regression",
        (-1.0, 1.0),
    ),
    MetricInfo(
        "hungarian",
        True,
        "Share of spots whose predicted-expression cluster maps to their true-expression "
        "cluster under the best one-to-one matching of clusters.",
        "clustering",
        (0.0, 1.0),
    ),
    MetricInfo(
        "hungarian_adjusted",
        True,
        "Hungarian accuracy adjusted for chance: (hungarian - chance) / (1 - chance), where chance "
        "is its expected value with the predicted clusters shuffled across spots; 0 for a "
        "prediction unrelated to the truth (a constant one included), 1 for identical clusterings.",
        "clustering",
    ),
    MetricInfo("ari", True, "Adjusted Rand index between true- and predicted-expression clusters.", "clustering",
               (-1.0, 1.0)),
    MetricInfo(
        "nmi",
        True,
        "Normalized mutual information between true- and predicted-expression clusters.",
        "clustering",
        (0.0, 1.0),
    ),
)

METRICS: dict[str, MetricInfo] = {
    info.name: info for info in (*_FIXED, *map(_spearman, DEFAULT_KS), *map(_recall, DEFAULT_KS))
}

_TOP_K_NAME = re.compile(r"(spearman|recall)_([1-9][0-9]*)")


def metric_info(name: str) -> MetricInfo:
    """The :class:`MetricInfo` of ``name``, including any ``spearman_<k>``/``recall_<k>``."""
    if name in METRICS:
        return METRICS[name]
    match = _TOP_K_NAME.fullmatch(name)
    if match is None:
        known = ", ".join(METRICS)
        raise StbenchError(f"Unknown metric {name!r}; known metrics are {known} and spearman_<k>/recall_<k>.")
    kind, k = match.groups()
    return (_spearman if kind == "spearman" else _recall)(int(k))
