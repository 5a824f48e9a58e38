"""Render the leaderboard (markdown) from a results folder.

For each metric a table like the GenST paper's Table 2 (regression) or Table 3 (clustering):
rows are cohorts, columns are models, cells are mean ± std over folds. The std is the
population standard deviation over folds (ddof = 0, as HEST-Benchmark). The best non-oracle
value of each row is bold, by the metric's ``higher_is_better``; oracles (models that read
test expression) are set apart in the last columns and never bolded; a missing cell is "—";
a cell with fewer than five folds is flagged with †.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from stbench.cohorts import COHORTS
from stbench.errors import StbenchError
from stbench.metrics import METRICS, metric_info
from stbench.results import ResultFile, iter_results
from stbench.splits import N_FOLDS

Cell = list[ResultFile]


def _cohort_order(names: Iterable[str]) -> list[str]:
    known = list(COHORTS)
    return sorted(set(names), key=lambda n: (known.index(n) if n in known else len(known), n))


def _model_order(cells: dict[tuple[str, str], Cell]) -> tuple[list[str], list[str]]:
    oracle = {m: any(r.document["model"]["oracle"] for r in rs) for (_, m), rs in cells.items()}
    models = sorted(oracle, key=lambda m: (m != "mean", m))
    return [m for m in models if not oracle[m]], [m for m in models if oracle[m]]


def _metric_names(cells: dict[tuple[str, str], Cell]) -> list[str]:
    present = {k for rs in cells.values() for r in rs for k in r.document["metrics"]}
    ordered = [m for m in METRICS if m in present]
    return ordered + sorted(present - set(ordered))


def _stats(rs: Cell, metric: str) -> tuple[float, float, int] | None:
    values = np.array([r.document["metrics"].get(metric, np.nan) for r in rs], dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    return float(values.mean()), float(values.std(ddof=0)), int(values.size)


def _table(metric: str, cohorts: list[str], plain: list[str], oracles: list[str], cells: dict) -> list[str]:
    info = metric_info(metric)
    arrow = "↑" if info.higher_is_better else "↓"
    header = ["cohort", *plain, *(f"*{m}* (oracle)" for m in oracles)]
    lines = [
        f"### `{metric}` {arrow}",
        "",
        info.description,
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for cohort in cohorts:
        stats = {m: _stats(cells.get((cohort, m), []), metric) for m in plain + oracles}
        scored = [s[0] for m, s in stats.items() if s is not None and m in plain]
        best = (max if info.higher_is_better else min)(scored) if scored else None
        row = [cohort]
        for m in plain + oracles:
            s = stats[m]
            if s is None:
                row.append("—")
                continue
            mean, std, n = s
            text = f"{mean:.3f} ± {std:.3f}"
            if m in plain and best is not None and round(mean, 3) == round(best, 3):
                text = f"**{text}**"
            if n < N_FOLDS:
                text += f" †{n}"
            row.append(text)
        lines.append("| " + " | ".join(row) + " |")
    return lines + [""]


def render_report(results_dir: Path) -> str:
    """The whole leaderboard as markdown."""
    cells: dict[tuple[str, str], Cell] = defaultdict(list)
    for r in iter_results(results_dir):
        cells[(r.cohort, r.model)].append(r)
    if not cells:
        raise StbenchError(f"No results found under {results_dir}; run 'stbench run' first.")
    cohorts = _cohort_order(c for c, _ in cells)
    plain, oracles = _model_order(cells)
    metrics = _metric_names(cells)
    profiles = {
        m: sorted({r.document["model"]["profile"] for (_, mm), rs in cells.items() if mm == m for r in rs})
        for m in plain + oracles
    }
    versions = sorted({r.document["stbench_version"] for rs in cells.values() for r in rs})
    shas = sorted({str(r.document.get("git_sha")) for rs in cells.values() for r in rs})
    out = [
        "# stbench leaderboard",
        "",
        f"Results: `{results_dir}` · stbench {', '.join(versions)} · git {', '.join(s[:12] for s in shas)}",
        "",
        "Cells are mean ± std over folds; std is the population standard deviation (ddof = 0). "
        "**Bold**: best non-oracle model of the row (↑ higher is better, ↓ lower is better). "
        "Oracle columns read the held-out expression (upper bounds, not competitors). "
        f"— : no result. †n : only n of {N_FOLDS} folds.",
        "",
        "Profiles: " + ", ".join(f"{m} ({'/'.join(p)})" for m, p in profiles.items()),
        "",
        "## Regression (GenST paper Table 2 layout)",
        "",
    ]
    for metric in (m for m in metrics if metric_info(m).kind == "regression"):
        out += _table(metric, cohorts, plain, oracles, cells)
    clustering = [m for m in metrics if metric_info(m).kind == "clustering"]
    if clustering:
        out += ["## Clustering (GenST paper Table 3 layout)", ""]
        for metric in clustering:
            out += _table(metric, cohorts, plain, oracles, cells)
    return "\n".join(out)


def write_report(results_dir: Path, out: Path | None) -> str:
    """Render and, when ``out`` is given, write the report; returns the markdown."""
    text = render_report(results_dir)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    return text
