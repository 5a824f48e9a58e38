"""The one definition of a valid result file, shared by ``report``, ``status`` and ``validate``.

A result file is **valid** when stbench reads it (:func:`stbench.results.document.load_result`: a
JSON object of the current schema whose cohort name, model name and fold are plain names) and its
``metrics`` is an object, and its ``per_slide`` (when present) an object of objects, whose values
are numbers (or null; NaN where a metric is undefined) within each metric's range
(:attr:`stbench.metrics.MetricInfo.valid_range`).

* ``stbench report`` renders the valid results and names every other file, one sentence each;
* ``stbench status`` shows a cell whose result file is not valid as ``invalid``, with that sentence;
* ``stbench validate`` starts from the same sentences and adds what the leaderboard requires
  (every schema field and metric, the frozen split, the current metrics definition, and the
  metrics recomputed from the kept predictions; :mod:`stbench.submit.validate`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from stbench.errors import StbenchError
from stbench.results.reading import ResultFile, load_result, result_paths

_EPS = 1e-6
"""Slack (absolute) on a metric's range, for values computed at its edge (a Pearson of 1 + 1e-16)."""


def metric_range(name: str) -> tuple[float, float]:
    """The range a metric's value must lie in (:attr:`stbench.metrics.MetricInfo.valid_range`;
    unbounded for a key that is no metric)."""
    from stbench.metrics.catalog import metric_info

    try:
        return metric_info(name).valid_range
    except StbenchError:
        return (-math.inf, math.inf)


def range_problems(metrics: Mapping, where: str) -> list[str]:
    """One sentence per metric value of ``metrics`` that is not a number (or null) in its range."""
    problems = []
    for key, value in metrics.items():
        if value is None:
            continue
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.append(f"{where}: metric {key} is {value!r}, not a number.")
            continue
        if math.isnan(value):
            continue
        low, high = metric_range(key)
        if not low - _EPS <= value <= high + _EPS:
            problems.append(f"{where}: metric {key} = {value:.6g} is outside [{low:g}, {high:g}].")
    return problems


def result_problems(item: ResultFile) -> list[str]:
    """Why the read result ``item`` is not valid (see the module docstring), one sentence each
    naming its file; ``[]`` when it is."""
    doc, where = item.document, str(item.path)
    if not isinstance(doc.get("metrics"), Mapping):
        return [f"{where}: its metrics are not an object."]
    problems = range_problems(doc["metrics"], where)
    per_slide = doc.get("per_slide", {})
    if not isinstance(per_slide, Mapping) or not all(isinstance(v, Mapping) for v in per_slide.values()):
        return problems + [f"{where}: per_slide is not an object of objects."]
    for slide, values in per_slide.items():
        problems += range_problems({k: v for k, v in values.items() if k != "n_spots"}, f"{where}: slide {slide}")
    return problems


def load_valid(path: Path) -> tuple[ResultFile | None, list[str]]:
    """The result at ``path`` when it is valid, else ``None`` and the sentences saying why."""
    item, problem = load_result(path)
    if item is None:
        return None, [problem or f"{path}: not a readable result."]
    problems = result_problems(item)
    return (None, problems) if problems else (item, [])


def scan_valid(results: Path) -> tuple[list[ResultFile], list[str]]:
    """Every valid result under ``results``, and the first sentence for each file that is not."""
    found, problems = [], []
    for path in result_paths(results):
        item, why = load_valid(path)
        if item is not None:
            found.append(item)
        else:
            problems.append(why[0])
    return found, problems
