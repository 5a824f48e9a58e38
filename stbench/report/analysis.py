"""Everything the markdown and the web page show, computed once from a results folder."""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path

from stbench.report import figures as fig
from stbench.report.ceilings import Ceilings, compute_ceilings
from stbench.report.collect import Board, load_board
from stbench.report.encoders import EncoderView, encoder_view
from stbench.report.exports import write_ceiling_exports, write_exports
from stbench.report.reference import Reported, load_hest_reported, load_reported
from stbench.report.significance import Comparison, RankAnalysis, compare, rank_analysis
from stbench.report.truth import TruthSource
from stbench.results.document import cell_path


@dataclass
class Analysis:
    """Tables, tests and reported values of a board (no files)."""

    board: Board
    comparisons: dict[tuple[str, str], dict[str, Comparison]]
    ranks: dict[str, RankAnalysis | None]
    reported: dict[tuple[str, str, str], Reported]
    encoders: EncoderView | None = None
    hest_reported: dict[tuple[str, str], float] = field(default_factory=dict)
    ceilings: Ceilings = field(default_factory=Ceilings)
    cards: dict[str, dict] = field(default_factory=dict)
    """model -> its model card (:mod:`stbench.submit.card`), for the submitted models."""

    def reported_for(self, cohort: str, metric: str) -> dict[str, Reported]:
        return {m: r for (c, m, k), r in self.reported.items() if c == cohort and k == metric}


def analyse(
    results_dir: Path, reference: Path | None = None, root: Path | None = None, submissions: Path | None = None
) -> Analysis:
    """Load ``results_dir`` and compute its tests; ``root`` is the data root whose prepared
    cohorts give the measurement's ceiling (:mod:`stbench.report.ceilings`). ``submissions``
    (``leaderboard/submissions``): every accepted submission's results join the board, with its
    card; one whose card is not valid, or whose name a model of ``results_dir`` has, is left out
    with a note (``board.left_out``)."""
    cards, extra, left_out = load_submissions(results_dir, submissions)
    board = load_board(results_dir, extra)
    board.left_out += left_out
    comparisons = {(c, m): compare(board, c, m) for c in board.cohorts for m in board.metrics}
    ranks = {m: rank_analysis(board, m) for m in board.metrics}
    return Analysis(
        board, comparisons, ranks, load_reported(reference), encoder_view(board), load_hest_reported(reference),
        compute_ceilings(board, root), cards,
    )


def load_submissions(results_dir: Path, submissions: Path | None) -> tuple[dict[str, dict], list[Path], list[str]]:
    """(model -> card, results folders, notes) of the submissions under ``submissions``."""
    from stbench.submit.card import CARD_NAME, read_card
    from stbench.submit.submission import RESULTS, duplicate_models, submission_folders

    if submissions is None:
        return {}, [], []
    cards, extra, notes = {}, [], []
    for folder in submission_folders(submissions):
        card, problems = read_card(folder / CARD_NAME)
        problems += duplicate_models([folder], Path(results_dir))
        if card is None or problems:
            notes.append(f"{problems[0].rstrip('.')}; submission {folder.name} left out of the report.")
            continue
        cards[folder.name] = card
        extra.append(folder / RESULTS)
    return cards, extra, notes


@dataclass
class Artefacts:
    """Files written beside a report: figure PNGs (an SVG beside each) and CSVs, by key."""

    folder: Path
    figures: dict[str, Path] = field(default_factory=dict)
    exports: dict[str, Path] = field(default_factory=dict)
    extremes: dict[tuple[str, str], tuple[list, list]] = field(default_factory=dict)
    extras: list[tuple[str, str, int, Path]] = field(default_factory=list)
    """(cohort, label, fold, file) of the extra files results list (``artefacts``), e.g. GenST's."""
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
    if analysis.encoders is not None:
        art.figures["encoders"] = fig.encoder_heatmap(analysis.encoders, figdir / "encoders")
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
    art.extras = model_artefacts(board)
    return art


def model_artefacts(board: Board) -> list[tuple[str, str, int, Path]]:
    """(cohort, label, fold, file) of every extra file the results list under ``artefacts``
    (label -> glob pattern relative to ``fold<k>/``); found from the results, not model names."""
    out = []
    for (cohort, model), results in sorted(board.cells.items()):
        for r in results:
            base = r.path.with_suffix("") if r.path else cell_path(board.results_dir, cohort, model, r.fold, r.seed)
            seed = f" seed {r.seed}" if r.seed else ""
            for label, pattern in (r.document.get("artefacts") or {}).items():
                for path in sorted(base.glob(pattern)):
                    name = f"{label} {path.stem}" if glob.has_magic(pattern) else label
                    out.append((cohort, f"{model}{seed} {name}", r.fold, path))
    return out
