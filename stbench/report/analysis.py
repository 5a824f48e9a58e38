"""Everything the markdown and the web page show, computed once from a results folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from stbench.report import figures as fig
from stbench.report.ceilings import Ceilings, compute_ceilings
from stbench.report.collect import Board, load_board
from stbench.report.exports import write_ceiling_exports, write_exports
from stbench.report.reference import Reported, load_reported
from stbench.report.significance import Comparison, RankAnalysis, compare, rank_analysis
from stbench.report.truth import TruthSource

GENST_MODELS = ("genst",)
"""Models whose artefact folders hold ``reconstructions/`` and ``codebook_top_genes.csv``."""


@dataclass
class Analysis:
    """Tables, tests and reported values of a board (no files)."""

    board: Board
    comparisons: dict[tuple[str, str], dict[str, Comparison]]
    ranks: dict[str, RankAnalysis | None]
    reported: dict[tuple[str, str, str], Reported]
    ceilings: Ceilings = field(default_factory=Ceilings)

    def reported_for(self, cohort: str, metric: str) -> dict[str, Reported]:
        return {m: r for (c, m, k), r in self.reported.items() if c == cohort and k == metric}


def analyse(results_dir: Path, reference: Path | None = None, root: Path | None = None) -> Analysis:
    """Load ``results_dir`` and compute its tests; ``root`` is the data root whose prepared
    cohorts give the measurement's ceiling (:mod:`stbench.report.ceilings`)."""
    board = load_board(results_dir)
    comparisons = {(c, m): compare(board, c, m) for c in board.cohorts for m in board.metrics}
    ranks = {m: rank_analysis(board, m) for m in board.metrics}
    return Analysis(board, comparisons, ranks, load_reported(reference), compute_ceilings(board, root))


@dataclass
class Artefacts:
    """Files written beside a report: figure PNGs (an SVG beside each) and CSVs, by key."""

    folder: Path
    figures: dict[str, Path] = field(default_factory=dict)
    exports: dict[str, Path] = field(default_factory=dict)
    extremes: dict[tuple[str, str], tuple[list, list]] = field(default_factory=dict)
    genst: list[tuple[str, str, int, Path]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def write_artefacts(analysis: Analysis, folder: Path, root: Path | None = None) -> Artefacts:
    """Write ``folder/figures/`` and ``folder/exports/`` for ``analysis``."""
    board = analysis.board
    art = Artefacts(Path(folder))
    figdir = art.folder / "figures"
    for metric in board.metrics:
        art.figures[f"folds_{metric}"] = fig.fold_points(board, metric, figdir / f"folds_{metric}")
        if analysis.ranks[metric] is not None:
            art.figures[f"cd_{metric}"] = fig.cd_diagram(analysis.ranks[metric], figdir / f"cd_{metric}")
    truth = TruthSource(board.results_dir, root)
    for cohort in board.cohorts:
        written, notes = fig.spatial_maps(board, truth, cohort, figdir / f"spatial_{cohort}")
        for path in written:
            art.figures[path.stem] = path
        art.notes += notes
    comparisons = [c for comps in analysis.comparisons.values() for c in comps.values()]
    art.exports, art.extremes = write_exports(board, truth, comparisons, art.folder / "exports")
    art.exports |= write_ceiling_exports(analysis.ceilings, art.folder / "exports")
    for cohort in board.cohorts:
        per_gene = analysis.ceilings.per_gene(cohort)
        if per_gene is not None:
            art.figures[f"ceiling_{cohort}"] = fig.ceiling_distribution(
                cohort, per_gene[1], analysis.ceilings.stats(cohort, "pearson_gene"), figdir / f"ceiling_{cohort}")
    art.notes += analysis.ceilings.notes
    if not any(k[0] == c for k in art.extremes for c in board.cohorts):
        art.notes.append("no saved predictions with truth: per-gene Pearson not exported")
    art.notes += truth.notes
    for (cohort, model), results in sorted(board.cells.items()):
        if model not in GENST_MODELS:
            continue
        for r in results:
            base = board.results_dir / cohort / model / f"fold{r.fold}"
            for png in sorted((base / "reconstructions").glob("*.png")):
                art.genst.append((cohort, f"reconstruction {png.stem}", r.fold, png))
            if (base / "codebook_top_genes.csv").is_file():
                art.genst.append((cohort, "atom table", r.fold, base / "codebook_top_genes.csv"))
    return art
