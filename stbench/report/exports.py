"""Drill-down CSVs beside the leaderboard: per-slide metrics, per-gene Pearson, test p-values.

* ``per_slide.csv``: one row per (cohort, model, fold, seed, test slide) with every metric of the
  result's ``per_slide`` block;
* ``per_gene_pearson.csv``: one row per (cohort, model, gene): Pearson across each fold's pooled
  test spots (as ``pearson_gene``), mean over folds, computed from the saved
  predictions and the prepared truth; a gene with constant truth is left out (as in the
  metrics), a constant prediction against varying truth scores 0;
* ``genes_best_worst.csv``: the ``N_EXTREME`` best and worst predicted genes per cohort and model;
* ``significance.csv``: every comparison with the row's best (statistic, p, n per test);
* ``ceiling.csv``: the measurement's split-half ceiling of each correlation metric per (cohort,
  fold), mean and std over thinning seeds (:mod:`stbench.report.ceilings`);
* ``per_gene_ceiling.csv``: one row per (cohort, gene): the ceiling of the gene's Pearson, per
  fold over its pooled test spots then mean over folds (as ``per_gene_pearson.csv``), with the
  std over seeds; a gene constant in every fold is left out.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from stbench.metrics.ceiling import CEILING_METRICS
from stbench.metrics.gene_moments import gene_moments
from stbench.report.ceilings import Ceilings
from stbench.report.collect import Board
from stbench.report.significance import Comparison
from stbench.report.truth import TruthSource

N_EXTREME = 10


def per_gene_pearson(board: Board, truth: TruthSource, cohort: str, model: str) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(genes, pearson, n_spots) for a cell: per fold, Pearson across the fold's pooled test spots
    (the ``pearson_gene`` metric's moments, :func:`stbench.metrics.gene_moments.gene_moments`), then
    the mean over folds; ``None`` without saved predictions."""
    per_fold, genes, n = [], None, 0
    for result in board.results(cohort, model):
        pooled = None
        for pair in truth.pairs(result):
            moments = gene_moments(pair.truth, pair.pred.X)
            pooled = moments if pooled is None else pooled.merge(moments)
            genes = pair.genes
        if pooled is not None and pooled.n >= 2:
            per_fold.append(pooled.pearson())
            n += pooled.n
    if not per_fold:
        return None
    with np.errstate(invalid="ignore"):
        stacked = np.vstack(per_fold)
        counts = np.isfinite(stacked).sum(0)
        mean = np.where(counts > 0, np.nansum(stacked, 0) / np.maximum(counts, 1), np.nan)
    return genes, mean, n


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def _fmt(x: float) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.6g}"


def write_exports(
    board: Board, truth: TruthSource, comparisons: list[Comparison], out_dir: Path
) -> tuple[dict[str, Path], dict[tuple[str, str], tuple[list, list]]]:
    """Write the CSVs into ``out_dir``; returns their paths and (cohort, model) -> (best, worst)
    genes as ``[(gene, pearson), ...]`` lists for the markdown."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}

    metrics = board.metrics
    rows = []
    for (cohort, model), results in sorted(board.cells.items()):
        for r in results:
            for slide, values in sorted((r.document.get("per_slide") or {}).items()):
                rows.append([cohort, model, r.fold, r.seed, slide, values.get("n_spots", "")]
                            + [_fmt(values.get(m)) for m in metrics])
    paths["per_slide"] = out_dir / "per_slide.csv"
    _write_csv(paths["per_slide"], ["cohort", "model", "fold", "seed", "slide", "n_spots", *metrics], rows)

    gene_rows, extreme_rows = [], []
    extremes: dict[tuple[str, str], tuple[list, list]] = {}
    for cohort in board.cohorts:
        for model in board.models:
            res = per_gene_pearson(board, truth, cohort, model)
            if res is None:
                continue
            genes, r, n = res
            for g, v in zip(genes, r):
                gene_rows.append([cohort, model, g, _fmt(float(v)), n])
            scored = np.flatnonzero(np.isfinite(r))
            order = scored[np.argsort(-r[scored], kind="stable")]
            best = [(str(genes[i]), float(r[i])) for i in order[:N_EXTREME]]
            worst = [(str(genes[i]), float(r[i])) for i in order[::-1][:N_EXTREME]]
            extremes[(cohort, model)] = (best, worst)
            extreme_rows += [[cohort, model, "best", i + 1, g, _fmt(v)] for i, (g, v) in enumerate(best)]
            extreme_rows += [[cohort, model, "worst", i + 1, g, _fmt(v)] for i, (g, v) in enumerate(worst)]
    if gene_rows:
        paths["per_gene_pearson"] = out_dir / "per_gene_pearson.csv"
        _write_csv(paths["per_gene_pearson"], ["cohort", "model", "gene", "pearson", "n_spots"], gene_rows)
        paths["genes_best_worst"] = out_dir / "genes_best_worst.csv"
        _write_csv(paths["genes_best_worst"], ["cohort", "model", "end", "rank", "gene", "pearson"], extreme_rows)

    sig_rows = [
        [c.cohort, c.metric, c.model, c.best, _fmt(c.ttest.statistic), _fmt(c.ttest.p), c.ttest.n,
         _fmt(c.wilcoxon.statistic), _fmt(c.wilcoxon.p), c.wilcoxon.n,
         "" if c.not_worse is None else ("not worse" if c.not_worse else "worse")]
        for c in comparisons
    ]
    paths["significance"] = out_dir / "significance.csv"
    _write_csv(paths["significance"], ["cohort", "metric", "model", "best", "t", "p_t", "folds", "w", "p_wilcoxon",
                                       "slides", "verdict"], sig_rows)
    return paths, extremes


def write_ceiling_exports(ceilings: Ceilings, out_dir: Path) -> dict[str, Path]:
    """Write ``ceiling.csv`` and ``per_gene_ceiling.csv`` (none without a ceiling); returns their paths."""
    if not ceilings.folds:
        return {}
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for (cohort, fold), fc in sorted(ceilings.folds.items()):
        for metric in CEILING_METRICS:
            mean, std = fc.ceiling.summary(metric)
            rows.append([cohort, fold, metric, _fmt(mean), _fmt(std), " ".join(map(str, fc.ceiling.seeds)),
                         fc.ceiling.spot.shape[1], " ".join(fc.slides)])
    paths = {"ceiling": out_dir / "ceiling.csv", "per_gene_ceiling": out_dir / "per_gene_ceiling.csv"}
    _write_csv(paths["ceiling"], ["cohort", "fold", "metric", "ceiling", "seed_std", "seeds", "n_spots",
                                  "test_slides"], rows)
    gene_rows = []
    for cohort in sorted({c for c, _ in ceilings.folds}):
        genes, ceiling, std, n_spots = ceilings.per_gene(cohort)
        gene_rows += [[cohort, g, _fmt(float(c)), _fmt(float(s)), n_spots]
                      for g, c, s in zip(genes, ceiling, std) if np.isfinite(c)]
    _write_csv(paths["per_gene_ceiling"], ["cohort", "gene", "ceiling", "seed_std", "n_spots"], gene_rows)
    return paths
