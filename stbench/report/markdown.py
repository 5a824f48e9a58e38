"""The leaderboard as markdown.

For each metric a table like the GenST paper's Table 2 (regression) or Table 3 (clustering):
rows are cohorts, columns are models, cells are mean ± std over folds. The std is the
population standard deviation over folds (ddof = 0, as HEST-Benchmark); a fold's value is the
mean over its seeds, and with several seeds the seed spread follows as ``[s ± x]`` (the std over
a fold's seeds, mean over folds). The best non-oracle
value of each row is bold, by the metric's ``higher_is_better``; ≈ marks a model not
significantly worse than it (:mod:`stbench.report.significance`); oracles (models that read
test expression) are set apart in the last columns and never bolded or tested; a missing cell
is "—"; a cell with fewer than five folds is flagged with †. Under a paper cohort, the paper's
reported values and measured minus reported follow, never bolded or tested. The encoder view
(:mod:`stbench.report.encoders`) follows: per cohort, encoders x frozen-feature models, with the
same marks, and HEST-Benchmark's published value of each encoder beside them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from stbench.errors import StbenchError
from stbench.metrics import metric_info
from stbench.report.analysis import Analysis, Artefacts
from stbench.report.collect import Board, CellStats, load_board, provenance, stale_message
from stbench.report.encoders import VIEW_METRIC, entry_label
from stbench.report.reference import HEST_SOURCE, SOURCE, Reported
from stbench.report.significance import ALPHA, best_model
from stbench.protocol.splits import N_FOLDS

MARK = "≈"


_MARKDOWN_SPECIAL = str.maketrans({c: f"\\{c}" for c in "\\`*_{}[]<>()#+!|~"})


def md(text: object) -> str:
    """``text`` (a name from the results: cohort, model, gene, slide) safe in markdown and in a
    table cell: markdown and HTML characters backslash-escaped, line breaks as spaces."""
    return " ".join(str(text).splitlines()).translate(_MARKDOWN_SPECIAL).replace("&", "&amp;")


def _link(path: Path, base: Path | None) -> str:
    return Path(os.path.relpath(path, base)).as_posix() if base is not None else str(path)


def cell_text(analysis: Analysis, cohort: str, model: str, metric: str) -> str:
    """A measured cell: ``mean ± std``, bold when best, ≈ when not significantly worse, †n."""
    board = analysis.board
    s = board.stats(cohort, model, metric)
    if s is None:
        return "—"
    text = mean_std_text(s)
    comps = analysis.comparisons.get((cohort, metric), {})
    if model == best_model(board, cohort, metric):
        text = f"**{text}**"
    elif model in comps and comps[model].not_worse:
        text += f" {MARK}"
    if s.n < N_FOLDS:
        text += f" †{s.n}"
    return text


def mean_std_text(s: CellStats) -> str:
    """``mean ± std`` over folds, then the seed spread ``[s ± x]`` when a fold ran several seeds."""
    seeds = f" [s ± {s.seed_std:.3f}]" if s.seed_std is not None else ""
    return f"{s.mean:.3f} ± {s.std:.3f}{seeds}"


def _stats_text(s: CellStats | None, missing: str = "—") -> str:
    """``mean ± std`` over folds (:func:`mean_std_text`), †n when fewer than all folds."""
    if s is None:
        return missing
    return mean_std_text(s) + (f" †{s.n}" if s.n < N_FOLDS else "")


def _table(analysis: Analysis, metric: str, art: Artefacts | None, base: Path | None) -> list[str]:
    board = analysis.board
    info = metric_info(metric)
    arrow = "↑" if info.higher_is_better else "↓"
    ceilings = analysis.ceilings if analysis.ceilings.has(metric) else None
    header = ["cohort", *map(md, board.plain), *(f"*{md(m)}* (oracle)" for m in board.oracles),
              *(["ceiling"] if ceilings else [])]
    lines = [f"### `{metric}` {arrow}", "", info.description, "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for cohort in board.cohorts:
        cells = [md(cohort), *(cell_text(analysis, cohort, m, metric) for m in board.models)]
        cells += [_stats_text(ceilings.stats(cohort, metric))] if ceilings else []
        lines.append("| " + " | ".join(cells) + " |")
        if ceilings and ceilings.stats(cohort, metric) is not None:
            fractions = [_stats_text(ceilings.fraction(board, cohort, m, metric), "") for m in board.models]
            lines.append("| " + " | ".join(["↳ fraction of ceiling", *fractions, ""]) + " |")
        reported = {m: r for m, r in analysis.reported_for(cohort, metric).items() if m in board.models}
        if reported:
            where = "; ".join(sorted({r.label() for r in reported.values()}))
            lines.append("| " + " | ".join([f"↳ reported ({where})",
                                            *(reported[m].text() if m in reported else "" for m in board.models),
                                            *([""] if ceilings else [])]) + " |")
            diffs = []
            for m in board.models:
                s = board.stats(cohort, m, metric)
                diffs.append(f"{s.mean - reported[m].mean:+.3f}" if s is not None and m in reported else "")
            lines.append("| " + " | ".join(["↳ measured − reported", *diffs, *([""] if ceilings else [])]) + " |")
    lines.append("")
    if art is not None:
        if f"folds_{metric}" in art.figures:
            lines += [f"![{metric} per fold]({_link(art.figures[f'folds_{metric}'], base)})", ""]
        ra = analysis.ranks.get(metric)
        if ra is not None:
            ranks = ", ".join(f"{md(m)} {r:.2f}" for m, r in sorted(zip(ra.models, ra.ranks), key=lambda x: x[1]))
            f = ra.friedman
            fried = f"Friedman: {f.note}" if f.note else f"Friedman chi2 = {f.statistic:.2f}, p = {f.p:.3g}"
            lines += [f"Average ranks over {ra.blocks} (1 = best): {ranks}. {fried}; Nemenyi CD "
                      f"(alpha {ALPHA}) = {ra.cd:.2f}.", ""]
            if f"cd_{metric}" in art.figures:
                lines += [f"![{metric} critical difference]({_link(art.figures[f'cd_{metric}'], base)})", ""]
    return lines


def _reference_agreement(board: Board) -> list[str]:
    """Per cohort, how stable the true-expression clustering is: the mean over its test slides of
    ``reference_seed_ari`` (the same for every model; "—" where no result records it)."""
    lines = ["### Reference clustering seed agreement", "",
             "Mean pairwise ARI between the Leiden seeds' clusterings of the true expression, mean over the "
             "cohort's test slides (1 = every seed finds the same clusters; `docs/metrics.md`). Clustering scores "
             "of a cohort whose reference disagrees with itself cannot be told apart finely.", "",
             "| cohort | reference clustering seed agreement (mean pairwise ARI) | test slides |", "|---|---|---|"]
    for cohort in board.cohorts:
        per_slide: dict[str, float] = {}
        for model in board.models:
            per_slide.update(board.slide_values(cohort, model, "reference_seed_ari"))
        value = f"{sum(per_slide.values()) / len(per_slide):.3f}" if per_slide else "—"
        lines.append(f"| {md(cohort)} | {value} | {len(per_slide) or '—'} |")
    return lines + [""]


def _reported_section(analysis: Analysis) -> list[str]:
    rep = {k: r for k, r in analysis.reported.items() if r.source == SOURCE}
    others = {k: r for k, r in analysis.reported.items() if r.source != SOURCE}
    if not rep:
        return _others_section(others)
    lines = ["## The paper's reported values", "",
             f"Transcribed from {SOURCE} into `leaderboard/reference/` (see its README). Shown as printed and marked "
             "\"reported\": never bolded, ranked or tested (no per-fold values were published). Table 2 gives mean "
             "± **standard deviation** over five folds; Table 3's brackets are **variances**, as its caption says, "
             "shown as printed (not converted).", ""]
    for table, metrics in (("Table 2", ["pearson"]), ("Table 3", ["hungarian", "ari", "nmi"])):
        keys = [k for k in rep if k[2] in metrics]
        models = sorted({k[1] for k in keys}, key=lambda m: (m == "gene2gene", m))
        cohorts = sorted({k[0] for k in keys})
        lines += [f"### {table} (reported)", "", "| cohort | metric | " + " | ".join(models) + " |",
                  "|" + "---|" * (len(models) + 2)]
        for c in cohorts:
            for metric in metrics:
                if any((c, m, metric) in rep for m in models):
                    lines.append(f"| {c} | {metric} | " + " | ".join(
                        rep[(c, m, metric)].text() if (c, m, metric) in rep else "—" for m in models) + " |")
        lines.append("")
    return lines + _others_section(others)


def _others_section(rep: dict[tuple[str, str, str], Reported]) -> list[str]:
    """Values the methods' own papers print (``leaderboard/reference/`` README), one row each."""
    if not rep:
        return []
    lines = ["## Reported values from the methods' own papers", "",
             "Transcribed from each method's own paper into `leaderboard/reference/` (its README says how each "
             "paper's setting differs from stbench's). Shown as printed; never bolded, ranked or tested.", "",
             "| cohort | model | metric | reported | source |", "|---|---|---|---|---|"]
    lines += [f"| {md(c)} | {md(m)} | {k} | {r.text()} | {md(r.label())} |" for (c, m, k), r in sorted(rep.items())]
    return lines + [""]


def encoder_rows(analysis: Analysis, cohort: str) -> list[str]:
    """A cohort's encoders: measured ones by name, then HEST-reported-only ones by reported value."""
    measured = analysis.encoders.encoders.get(cohort, []) if analysis.encoders else []
    reported = {e: v for (c, e), v in analysis.hest_reported.items() if c == cohort and e not in measured}
    return measured + sorted(reported, key=lambda e: (-reported[e], e))


def _encoder_section(analysis: Analysis, art: Artefacts | None, base: Path | None) -> list[str]:
    view = analysis.encoders
    if view is None:
        return []
    sub = Analysis(view.board, {(c, VIEW_METRIC): comps for c, comps in view.comparisons.items()}, {}, {})
    lines = ["## Encoders (frozen-feature models)", "",
             f"`{VIEW_METRIC}` ↑ per cohort: rows are the frozen encoders a result records (`encoder` in its model "
             "settings or config), columns the models whose results record one. Marks as above, over every "
             f"(encoder, model) cell of the cohort. 'HEST reported': {HEST_SOURCE}, their PCA-256 + ridge probe "
             "(see docs/hest-bench.md); never bolded or tested.", ""]
    for cohort in view.board.cohorts:
        hest = any(c == cohort for c, _ in analysis.hest_reported)
        header = ["encoder", *view.models, *(["HEST reported"] if hest else [])]
        lines += [f"### {cohort}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for encoder in encoder_rows(analysis, cohort):
            cells = [cell_text(sub, cohort, entry_label(encoder, m), VIEW_METRIC) for m in view.models]
            if hest:
                value = analysis.hest_reported.get((cohort, encoder))
                cells.append("" if value is None else f"{value:.4f}")
            lines.append("| " + " | ".join([encoder, *cells]) + " |")
        lines.append("")
    if art is not None and "encoders" in art.figures:
        lines += [f"![{VIEW_METRIC} by encoder and model]({_link(art.figures['encoders'], base)})", ""]
    return lines


def _hest_section(analysis: Analysis) -> list[str]:
    rep = analysis.hest_reported
    if not rep:
        return []
    cohorts = sorted({c for c, _ in rep}, key=lambda c: (c != "hest-bench", c))
    encoders = sorted({e for _, e in rep}, key=lambda e: (-rep.get(("hest-bench", e), 0.0), e))
    lines = ["## HEST-Benchmark's reported values", "",
             f"{HEST_SOURCE}: mean Pearson of their probe per task (`hest-bench` = their nine-task average), "
             "transcribed into `leaderboard/reference/` (see its README). Never bolded, ranked or tested.", "",
             "| encoder | " + " | ".join(cohorts) + " |", "|" + "---|" * (len(cohorts) + 1)]
    for e in encoders:
        lines.append(f"| {e} | " + " | ".join(f"{rep[(c, e)]:.4f}" if (c, e) in rep else "—" for c in cohorts) + " |")
    return lines + [""]


def _artefact_sections(analysis: Analysis, art: Artefacts, base: Path | None) -> list[str]:
    board = analysis.board
    out = ["## Spatial maps (paper Figure 4 layout)", ""]
    spatial = [k for k in art.figures if k.startswith("spatial_")]
    for key in spatial:
        out += [f"![{key}]({_link(art.figures[key], base)})", ""]
    if not spatial:
        out += ["No spatial maps: no saved predictions with truth were found.", ""]
    ceiling_figures = [k for k in art.figures if k.startswith("ceiling_")]
    if ceiling_figures:
        out += ["## The measurement's ceiling", "",
                "Each gene's split-half ceiling: the highest Pearson any model can reach against the measured "
                "expression of this gene, given the sampling noise of its counts (`docs/ceiling.md`; per-gene values "
                "in `exports/per_gene_ceiling.csv`).", ""]
        out += [f"![{key}]({_link(art.figures[key], base)})" for key in ceiling_figures] + [""]
    if art.extras:
        out += ["## Model artefacts", "", "Extra files the results list (`artefacts`), per model and fold:", ""]
        for cohort, kind, fold, path in art.extras:
            out.append(f"- {md(cohort)} fold {fold}: [{md(kind)}]({_link(path, base)})")
        out.append("")
    out += ["## Drill-down exports", ""]
    for key, path in art.exports.items():
        out.append(f"- [`{path.name}`]({_link(path, base)})")
    out.append("")
    if art.extremes:
        out += ["Per-gene Pearson over each fold's pooled test spots, mean over folds (from the saved predictions); the three "
                "best and worst predicted genes per cohort and model:", "",
                "| cohort | model | best | worst |", "|---|---|---|---|"]
        for (cohort, model), (best, worst) in art.extremes.items():
            fmt = ", ".join
            out.append(f"| {md(cohort)} | {md(model)} | {fmt(f'{md(g)} ({r:.2f})' for g, r in best[:3])} | "
                       f"{fmt(f'{md(g)} ({r:.2f})' for g, r in worst[:3])} |")
        out.append("")
    if art.notes:
        out += ["Notes:", ""] + [f"- {md(n)}" for n in art.notes] + [""]
    return out


def render_markdown(analysis: Analysis, art: Artefacts | None = None, base: Path | None = None) -> str:
    """The whole leaderboard as markdown; figures and exports linked relative to ``base``."""
    board = analysis.board
    prov = provenance(board)
    out = [
        "# stbench leaderboard",
        "",
        f"Results: `{board.results_dir}` · stbench {', '.join(prov.get('stbench version', []))} · "
        f"git {', '.join(sorted({s[:12] for s in prov.get('git sha', [])}))}",
        "",
        "Cells are mean ± std over folds; std is the population standard deviation (ddof = 0). "
        "A fold run with several training seeds counts as the mean of its seeds, and the cell shows the seed "
        "spread beside the fold spread: [s ± x] is the population std over a fold's seeds, mean over folds. "
        "**Bold**: best non-oracle model of the row (↑ higher is better, ↓ lower is better). "
        f"{MARK}: not significantly worse than the bold model (neither the Nadeau-Bengio corrected t-test over "
        f"folds nor the Wilcoxon signed-rank test over test slides rejects at alpha = {ALPHA}, one-sided, "
        "uncorrected for multiple comparisons; p-values in `exports/significance.csv`). "
        "Oracle columns read the held-out expression (upper bounds, not competitors). "
        f"— : no result. †n : only n of {N_FOLDS} folds. \"reported\" rows: published values, the GenST "
        "paper's or, as labelled, the method's own paper's. "
        "`ceiling` (correlation metrics): the measurement's own split-half reliability ceiling, from the test "
        "slides' raw counts; \"fraction of ceiling\": the model's value over the ceiling, per fold, mean ± std "
        "over folds (`docs/ceiling.md`).",
        "",
    ]
    stale = stale_message(board)
    if stale:
        out += [f"> **Outdated scores:** {stale}", ""]
    out += ["Profiles: " + ", ".join(map(md, prov.get("profiles", []))), "", "## Regression (GenST paper Table 2 layout)", ""]
    for metric in (m for m in board.metrics if metric_info(m).kind == "regression"):
        out += _table(analysis, metric, art, base)
    clustering = [m for m in board.metrics if metric_info(m).kind == "clustering"]
    if clustering:
        out += ["## Clustering (GenST paper Table 3 layout)", ""]
        for metric in clustering:
            out += _table(analysis, metric, art, base)
        out += _reference_agreement(board)
    out += _encoder_section(analysis, art, base)
    if art is not None:
        out += _artefact_sections(analysis, art, base)
    out += _reported_section(analysis)
    out += _hest_section(analysis)
    if board.left_out:
        out += ["## Files left out", "", "Result files that could not be read or are not valid results:", ""]
        out += [f"- {md(line)}" for line in board.left_out] + [""]
    out += ["## Provenance", "", "| field | values |", "|---|---|"]
    out += [f"| {md(k)} | {'; '.join(map(md, v))} |" for k, v in prov.items()]
    return "\n".join(out)


_SUBMISSION_METRICS = ("pearson", "pearson_gene", "l1", "ari")


def submission_rows(folders: Iterable[Path]) -> str:
    """The rows each submission adds, as markdown: per cohort, mean ± std over folds of the main metrics."""
    from stbench.submit.card import CARD_NAME, read_card
    from stbench.submit.submission import RESULTS

    out = []
    for folder in folders:
        card, _ = read_card(Path(folder) / CARD_NAME)
        title = md(card.get("name")) if card and isinstance(card.get("name"), str) else Path(folder).name
        out.append(f"### {title} ({md(Path(folder).name)})\n")
        try:
            board = load_board(Path(folder) / RESULTS)
        except StbenchError as exc:
            out.append(f"{md(str(exc))}\n")
            continue
        metrics = [m for m in _SUBMISSION_METRICS if m in board.metrics]
        out.append("| cohort | model | folds | " + " | ".join(metrics) + " |")
        out.append("|---|---|---|" + "---|" * len(metrics))
        for cohort, model in sorted(board.cells):
            stats = [board.stats(cohort, model, m) for m in metrics]
            cells = [f"{s.mean:.3f} ± {s.std:.3f}" if s else "" for s in stats]
            out.append(f"| {md(cohort)} | {md(model)} | {len(board.results(cohort, model))} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)
