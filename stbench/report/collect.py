"""The results folder, loaded once for every part of the report (tables, tests, figures, page)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stbench.protocol.cohorts import COHORTS
from stbench.errors import StbenchError
from stbench.metrics import METRICS, METRICS_VERSION
from stbench.results import document as results
from stbench.results.document import ResultFile


def _cohort_order(names: Iterable[str]) -> list[str]:
    known = list(COHORTS)
    return sorted(set(names), key=lambda n: (known.index(n) if n in known else len(known), n))


@dataclass(frozen=True)
class CellStats:
    """A cell's summary over folds: mean, population std (ddof = 0) and number of folds."""

    mean: float
    std: float
    n: int


@dataclass
class Board:
    """Every valid result of a results folder, indexed by (cohort, model).

    Attributes:
        results_dir: the folder read.
        cells: (cohort, model) -> its results, sorted by fold.
        cohorts: cohorts in the order of :data:`stbench.protocol.cohorts.COHORTS`, then by name.
        plain: non-oracle models, ``mean`` first then by name.
        oracles: oracle models (read test expression), by name.
        metrics: metric keys present, in :data:`stbench.metrics.METRICS` order then by name.
        stale: results scored under an older ``metrics_version`` than this stbench's.
        left_out: one sentence naming each result file that could not be read or is not a valid
            result (the definition :func:`stbench.submit.validate.validate` applies per file).
    """

    results_dir: Path
    cells: dict[tuple[str, str], list[ResultFile]]
    cohorts: list[str]
    plain: list[str]
    oracles: list[str]
    metrics: list[str]
    stale: list[ResultFile] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        return self.plain + self.oracles

    def results(self, cohort: str, model: str) -> list[ResultFile]:
        return self.cells.get((cohort, model), [])

    def fold_values(self, cohort: str, model: str, metric: str) -> dict[int, float]:
        """fold -> the fold's value of ``metric`` (finite values only)."""
        out = {}
        for r in self.results(cohort, model):
            value = r.document.get("metrics", {}).get(metric)
            if value is not None and np.isfinite(value):
                out[r.fold] = float(value)
        return out

    def slide_values(self, cohort: str, model: str, metric: str) -> dict[str, float]:
        """test slide -> its value of ``metric`` over every fold (each slide is tested once)."""
        out = {}
        for r in self.results(cohort, model):
            for slide, values in (r.document.get("per_slide") or {}).items():
                value = values.get(metric)
                if value is not None and np.isfinite(value):
                    out[slide] = float(value)
        return out

    def stats(self, cohort: str, model: str, metric: str) -> CellStats | None:
        values = np.array(list(self.fold_values(cohort, model, metric).values()))
        if values.size == 0:
            return None
        return CellStats(float(values.mean()), float(values.std(ddof=0)), int(values.size))

    def test_train_ratio(self, cohort: str) -> float:
        """Mean over the cohort's folds of n_test / n_train slides, where the training set is
        the train and validation slides (a model sees both); the Nadeau-Bengio correction."""
        ratios = {}
        for (c, _), rs in self.cells.items():
            if c != cohort:
                continue
            for r in rs:
                doc = r.document.get("cohort", {})
                n_test = len(doc.get("test_slides") or [])
                n_train = len(doc.get("train_slides") or []) + len(doc.get("val_slides") or [])
                if n_test and n_train:
                    ratios[r.fold] = n_test / n_train
        return float(np.mean(list(ratios.values()))) if ratios else 0.25  # 20 / (70 + 10)


def usable_problems(r: ResultFile) -> list[str]:
    """Why the report cannot use result ``r``, one sentence each naming its file ([] when it can):
    a metric (overall or per slide) that is not a number in its range, as
    :func:`stbench.submit.validate.validate` checks them."""
    from stbench.submit.validate import range_problems

    doc, where = r.document, str(r.path)
    if not isinstance(doc.get("metrics"), dict):
        return [f"{where}: its metrics are not an object."]
    problems = range_problems(doc["metrics"], where)
    per_slide = doc.get("per_slide", {})
    if not isinstance(per_slide, dict) or not all(isinstance(v, dict) for v in per_slide.values()):
        return problems + [f"{where}: per_slide is not an object of objects."]
    for slide, values in per_slide.items():
        problems += range_problems({k: v for k, v in values.items() if k != "n_spots"}, f"{where}: slide {slide}")
    return problems


def load_board(results_dir: Path) -> Board:
    """Load every result under ``results_dir``; no result at all is one clear error."""
    cells: dict[tuple[str, str], list[ResultFile]] = defaultdict(list)
    found, left_out = results.scan_results(results_dir)
    for r in found:
        problems = usable_problems(r)
        if problems:
            left_out.append(f"{problems[0].rstrip('.')}; left out of the report.")
            continue
        cells[(r.cohort, r.model)].append(r)
    if not cells:
        raise StbenchError(f"No results found under {results_dir}; run 'stbench run' first.")
    for rs in cells.values():
        rs.sort(key=lambda r: r.fold)
    oracle = {m: any(r.document["model"].get("oracle") for r in rs) for (_, m), rs in cells.items()}
    models = sorted(oracle, key=lambda m: (m != "mean", m))
    present = {k for rs in cells.values() for r in rs for k in r.document.get("metrics", {})}
    ordered = [m for m in METRICS if m in present]
    stale = results.outdated(r for rs in cells.values() for r in rs)
    return Board(
        results_dir=Path(results_dir),
        left_out=left_out,
        cells=dict(cells),
        cohorts=_cohort_order(c for c, _ in cells),
        plain=[m for m in models if not oracle[m]],
        oracles=[m for m in models if oracle[m]],
        metrics=ordered + sorted(present - set(ordered)),
        stale=stale,
    )


def stale_message(board: Board) -> str | None:
    """One sentence naming results made under an older metrics definition, and one naming
    results made on folds since regenerated, each with the command that fixes them."""
    old_split = results.on_old_split(r for rs in board.cells.values() for r in rs)
    by_cohort = {c: [r for r in old_split if r.cohort == c] for c in sorted({r.cohort for r in old_split})}
    split_note = (
        f"{len(old_split)} results were made on an older split of their cohort (outdated); recompute them with "
        + " and ".join(f"`{results.rerun_command(rs)}`" for rs in by_cohort.values()) + "."
    ) if old_split else None
    if not board.stale:
        return split_note
    versions = sorted({int(r.document.get("metrics_version") or 0) for r in board.stale})
    names = sorted({f"{r.cohort}/{r.model}" for r in board.stale})
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return (
        f"{len(board.stale)} results ({shown}) were scored under "
        f"{'/'.join('no recorded metrics_version' if v == 0 else f'metrics_version {v}' for v in versions)}, "
        f"older than this stbench's {METRICS_VERSION}; update them with "
        f"`{results.rescore_command(board.results_dir)}`."
    ) + (f" {split_note}" if split_note else "")


def provenance(board: Board) -> dict[str, list[str]]:
    """What the results were made with: versions, commits, data, profiles and settings."""

    def values(get) -> list[str]:
        return sorted({str(v) for rs in board.cells.values() for r in rs if (v := get(r.document)) is not None})

    out = {
        "stbench version": values(lambda d: d.get("stbench_version")),
        "git sha": values(lambda d: d.get("git_sha")),
        "metrics_version": values(lambda d: d.get("metrics_version", "absent (older than 1)")),
        "data revision": values(lambda d: f"{d['cohort'].get('name')}: {d['cohort'].get('revision')}"),
        "panel sha256": values(lambda d: f"{d['cohort'].get('name')}: {str(d['cohort'].get('panel_sha256'))[:12]}"),
        "split sha256": values(lambda d: f"{d['cohort'].get('name')}: {str(d['cohort'].get('split_sha256'))[:12]}"),
        "profiles": values(lambda d: f"{d['model'].get('name')}: {d['model'].get('profile')}"),
        "seeds": values(lambda d: d.get("seed")),
        "devices": values(lambda d: (d.get("environment") or {}).get("device")),
        "clustering": values(
            lambda d: ", ".join(f"{k}={v}" for k, v in sorted((d.get("clustering_params") or {}).items())) or None
        ),
    }
    return {k: v for k, v in out.items() if v}
