"""The measurement's own ceiling on the leaderboard (see ``docs/ceiling.md``).

For every cohort and fold with results, the fold's test slides (from its result documents)
are read from the cohort's prepared folder under the data root and their split-half ceiling
computed (:func:`stbench.metrics.ceiling.prepared_ceiling`, pooled over the fold's test
spots as the metrics are). The report never prepares a cohort for this: a cohort that is not
prepared here, or was prepared before raw counts were kept, gets a note instead.

A ceiling cell is the mean over folds of each fold's ceiling (itself the mean over thinning
seeds) ± the population std over folds, like every other cell; the seed spread is in
``exports/ceiling.csv``.

**Fraction of ceiling** (the convention): per fold, the model's value of the metric divided
by the fold's ceiling of it, then mean ± std over the model's folds. As both are means (over
genes for ``pearson_gene``, over spots for ``pearson``), this is the ratio of means
``sum_g r_g / sum_g c_g``, i.e. the per-gene fractions ``r_g / c_g`` averaged with weights
``c_g``: genes that the measurement can hardly resolve weigh little, so no threshold on the
ceiling is needed and no ratio explodes near a zero ceiling, and it is computed from the very
numbers the table shows, for every result (saved predictions are not needed).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stbench.errors import StbenchError
from stbench.metrics.ceiling import CEILING_METRICS, Ceiling, prepared_ceiling
from stbench.paths import data_root, prepared_dir
from stbench.report.collect import Board, CellStats

if TYPE_CHECKING:
    from stbench.data.prepared import PreparedCohort


@dataclass(frozen=True)
class FoldCeiling:
    """The ceiling of one fold's pooled test slides."""

    cohort: str
    fold: int
    slides: tuple[str, ...]
    genes: tuple[str, ...]
    ceiling: Ceiling


@dataclass
class Ceilings:
    """Every fold's ceiling of a board, by (cohort, fold), and why some are missing."""

    folds: dict[tuple[str, int], FoldCeiling] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def _fold_values(self, cohort: str, metric: str) -> dict[int, tuple[float, float]]:
        return {f: fc.ceiling.summary(metric) for (c, f), fc in self.folds.items() if c == cohort}

    def has(self, metric: str) -> bool:
        """Whether any cohort has a ceiling of ``metric``."""
        return metric in CEILING_METRICS and bool(self.folds)

    def stats(self, cohort: str, metric: str) -> CellStats | None:
        """The cohort's ceiling of ``metric``: mean and std over folds, or ``None``."""
        if metric not in CEILING_METRICS:
            return None
        values = np.array([v for v, _ in self._fold_values(cohort, metric).values() if np.isfinite(v)])
        if values.size == 0:
            return None
        return CellStats(float(values.mean()), float(values.std(ddof=0)), int(values.size))

    def fraction(self, board: Board, cohort: str, model: str, metric: str) -> CellStats | None:
        """The model's fraction of the ceiling (module docstring): mean and std over folds."""
        if metric not in CEILING_METRICS:
            return None
        ceilings = self._fold_values(cohort, metric)
        ratios = np.array([
            value / ceilings[fold][0]
            for fold, value in board.fold_values(cohort, model, metric).items()
            if fold in ceilings and ceilings[fold][0] > 0
        ])
        if ratios.size == 0:
            return None
        return CellStats(float(ratios.mean()), float(ratios.std(ddof=0)), int(ratios.size))

    def per_gene(self, cohort: str) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, int] | None:
        """(genes, ceiling, seed std, spots) of the cohort's genes: each fold's per-gene ceiling
        (mean over seeds), then the mean over folds (as ``per_gene_pearson.csv``); ``None`` without."""
        folds = [fc for (c, _), fc in sorted(self.folds.items()) if c == cohort]
        if not folds:
            return None
        means = np.vstack([fc.ceiling.gene_summary()[0] for fc in folds])
        stds = np.vstack([fc.ceiling.gene_summary()[1] for fc in folds])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "Mean of empty slice": a gene constant in every fold
            mean, std = np.nanmean(means, axis=0), np.nanmean(stds, axis=0)
        return folds[0].genes, mean, std, sum(fc.ceiling.spot.shape[1] for fc in folds)


def fold_test_slides(board: Board, cohort: str) -> dict[int, tuple[str, ...]]:
    """fold -> its test slides, as the cohort's result documents record them (first result wins)."""
    out: dict[int, tuple[str, ...]] = {}
    for (c, _), results in sorted(board.cells.items()):
        if c != cohort:
            continue
        for r in results:
            slides = tuple(r.document.get("cohort", {}).get("test_slides") or ())
            if slides and r.fold not in out:
                out[r.fold] = slides
    return out


def compute_ceilings(board: Board, root: Path | None = None) -> Ceilings:
    """The split-half ceiling of every (cohort, fold) of ``board`` whose cohort is prepared here."""
    from stbench.data.prepared import load_prepared

    out = Ceilings()
    for cohort in board.cohorts:
        folder = prepared_dir(cohort, root)
        if not (folder / "manifest.json").is_file():
            out.notes.append(f"{cohort}: no ceiling (the cohort is not prepared under {data_root(root)})")
            continue
        try:
            prepared = load_prepared(folder)
            _check_panel(board, cohort, prepared.panel_sha256)
            for fold, slides in sorted(fold_test_slides(board, cohort).items()):
                ceiling = prepared_ceiling(prepared, _known(prepared, slides))
                out.folds[(cohort, fold)] = FoldCeiling(cohort, fold, slides, prepared.genes, ceiling)
        except StbenchError as exc:
            out.notes.append(f"{cohort}: no ceiling ({exc})")
            for key in [k for k in out.folds if k[0] == cohort]:
                del out.folds[key]
    return out


def _check_panel(board: Board, cohort: str, panel_sha256: str) -> None:
    for (c, _), results in board.cells.items():
        for r in results:
            if c == cohort and r.document.get("cohort", {}).get("panel_sha256") not in (None, panel_sha256):
                raise StbenchError("its prepared panel differs from the one its results were scored on")


def _known(prepared: PreparedCohort, slides: Sequence[str]) -> list[str]:
    have = {s.id for s in prepared.slides}
    missing = [s for s in slides if s not in have]
    if missing:
        raise StbenchError(f"the prepared cohort has no test slide {missing[0]}")
    return list(slides)
