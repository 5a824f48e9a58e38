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
from stbench.results.validity import scan_valid


def _cohort_order(names: Iterable[str]) -> list[str]:
    known = list(COHORTS)
    return sorted(set(names), key=lambda n: (known.index(n) if n in known else len(known), n))


@dataclass(frozen=True)
class CellStats:
    """A cell's summary over folds, each fold's value being the mean over its seeds.

    ``mean`` and ``std`` (population, ddof = 0) are over the ``n`` folds; ``seed_std`` is the
    seed spread: the population std over a fold's seeds, averaged over the folds run with at
    least two seeds (``None`` when none was); ``seeds`` is the number of distinct seeds.
    """

    mean: float
    std: float
    n: int
    seed_std: float | None = None
    seeds: int = 1


@dataclass
class Board:
    """Every valid result of a results folder, indexed by (cohort, model entry).

    A model entry is the model's name, or ``model@encoder`` for results made with
    ``--set encoder=NAME`` (:func:`stbench.results.document.model_entry`); the report's "models"
    are entries. A cell may hold several results per fold, one per seed: every statistic first
    averages a fold's seeds.

    Attributes:
        results_dir: the folder read.
        cells: (cohort, entry) -> its results, sorted by fold then seed.
        cohorts: cohorts in the order of :data:`stbench.protocol.cohorts.COHORTS`, then by name.
        plain: non-oracle entries, ``mean`` first then by name.
        oracles: oracle entries (read test expression), by name.
        metrics: metric keys present, in :data:`stbench.metrics.METRICS` order then by name.
        stale: results scored under an older ``metrics_version`` than this stbench's.
        left_out: one sentence naming each result file that is not a valid result (the definition
            ``status`` and ``validate`` share, :mod:`stbench.results.validity`).
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

    def seed_values(self, cohort: str, model: str, metric: str) -> dict[int, dict[int, float]]:
        """fold -> seed -> that run's value of ``metric`` (finite values only)."""
        out: dict[int, dict[int, float]] = defaultdict(dict)
        for r in self.results(cohort, model):
            value = r.document.get("metrics", {}).get(metric)
            if value is not None and np.isfinite(value):
                out[r.fold][r.seed] = float(value)
        return dict(out)

    def fold_values(self, cohort: str, model: str, metric: str) -> dict[int, float]:
        """fold -> the fold's value of ``metric``, the mean over its seeds (finite values only)."""
        return {fold: float(np.mean(list(by_seed.values())))
                for fold, by_seed in sorted(self.seed_values(cohort, model, metric).items())}

    def slide_values(self, cohort: str, model: str, metric: str) -> dict[tuple[str, int], float]:
        """(test slide, fold) -> the slide's value of ``metric`` in that fold, the mean over the
        fold's seeds (finite values only). A slide tested in several folds has one entry per
        fold; :func:`paired_slide_values` makes one value per slide out of them."""
        runs: dict[tuple[str, int], list[float]] = defaultdict(list)
        for r in self.results(cohort, model):
            for slide, values in (r.document.get("per_slide") or {}).items():
                value = values.get(metric)
                if value is not None and np.isfinite(value):
                    runs[(slide, r.fold)].append(float(value))
        return {key: float(np.mean(v)) for key, v in runs.items()}

    def stats(self, cohort: str, model: str, metric: str) -> CellStats | None:
        by_fold = self.seed_values(cohort, model, metric)
        if not by_fold:
            return None
        values = np.array([np.mean(list(v.values())) for v in by_fold.values()])
        spreads = [np.std(list(v.values()), ddof=0) for v in by_fold.values() if len(v) > 1]
        seeds = len({seed for v in by_fold.values() for seed in v})
        return CellStats(float(values.mean()), float(values.std(ddof=0)), int(values.size),
                         float(np.mean(spreads)) if spreads else None, seeds)

    def fold_sizes(self, cohort: str) -> dict[int, tuple[int, int]]:
        """fold -> (n_test, n_train) slides of the cohort's split, as its results record them;
        the training set is the train and validation slides (a model sees both)."""
        sizes: dict[int, tuple[int, int]] = {}
        for (c, _), rs in self.cells.items():
            if c != cohort:
                continue
            for r in rs:
                doc = r.document.get("cohort", {})
                n_test = len(doc.get("test_slides") or [])
                n_train = len(doc.get("train_slides") or []) + len(doc.get("val_slides") or [])
                if n_test and n_train:
                    sizes.setdefault(r.fold, (n_test, n_train))
        return sizes


def paired_slide_values(per_model: list[dict[tuple[str, int], float]]) -> tuple[list[str], np.ndarray]:
    """One value per test slide and model, paired: the slides every model has, each slide's value
    the mean over the folds in which **every** model tested it.

    ``per_model`` are :meth:`Board.slide_values` of the models. A slide tested in two folds (test
    sets that overlap across folds) is averaged over those folds, never overwritten by one, and
    two models are only compared on the folds both have. Returns (slides, values of shape
    slides x models).
    """
    if not per_model:
        return [], np.zeros((0, 0))
    shared = sorted(set.intersection(*(set(v) for v in per_model)))
    by_slide: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for key in shared:
        by_slide[key[0]].append(key)
    slides = sorted(by_slide)
    values = np.array([[np.mean([v[k] for k in by_slide[s]]) for v in per_model] for s in slides])
    return slides, values.reshape(len(slides), len(per_model))


def load_board(results_dir: Path, extra: Iterable[Path] = ()) -> Board:
    """Load every result under ``results_dir`` and the ``extra`` results folders (accepted
    submissions' ``results/``); no result at all is one clear error."""
    cells: dict[tuple[str, str], list[ResultFile]] = defaultdict(list)
    found, invalid = scan_valid(results_dir)
    for folder in extra:
        more, problems = scan_valid(folder)
        found, invalid = found + more, invalid + problems
    left_out = [f"{problem.rstrip('.')}; left out of the report." for problem in invalid]
    seen: dict[tuple[str, str, int, int], ResultFile] = {}
    # a result at its own place in the layout first, so a misplaced copy is the one left out
    for r in sorted(found, key=lambda r: r.path is None or r.path.parts[-2:] != r.canonical_path.parts[-2:]):
        key = (r.cohort, r.entry, r.fold, r.seed)
        if key in seen:
            left_out.append(f"{r.path}: a second result of {r.cohort}/{r.entry} fold {r.fold} seed {r.seed} "
                            f"(the first is {seen[key].path}); left out of the report.")
            continue
        seen[key] = r
        cells[(r.cohort, r.entry)].append(r)
    if not cells:
        raise StbenchError(f"No results found under {results_dir}; run 'stbench run' first.")
    for rs in cells.values():
        rs.sort(key=lambda r: (r.fold, r.seed))
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
    names = sorted({f"{r.cohort}/{r.entry}" for r in board.stale})
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
