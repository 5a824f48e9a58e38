"""Published values transcribed into ``leaderboard/reference/``, shown beside measured ones.

Every file is listed in :data:`TABLES` and read by the one loader :func:`load_reported`:

* the GenST paper's Table 2 (mean Pearson ± standard deviation over five folds) and Table 3
  (Appendix C; clustering means with their **variance** in brackets);
* :data:`METHODS_FILE`: the values the field's methods (STFlow, Stem, TRIPLEX, HisToGene) print in
  their own papers on cohorts stbench also has; its rows name their paper and table.

All are shown as printed and never bolded, ranked or tested; the report adds measured minus
reported. HEST-Benchmark's published encoder table (:data:`HEST_FILE`, keyed by encoder, not by
model) is shown in the encoder view (:mod:`stbench.report.encoders`), beside the measured
frozen-feature models.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

from stbench.errors import StbenchError

SOURCE = "Wood et al., GenST (COMPAYL 2025)"
HEST_SOURCE = "HEST-Benchmark's results table dated 03.04.26 (4 March 2026), README of github.com/mahmoodlab/HEST"
HEST_FILE = "hest_benchmark_pearson.csv"
"""HEST-Benchmark's published Pearson per (task cohort, encoder); cohort ``hest-bench`` is their average."""
METHODS_FILE = "methods_hest_bench_pearson.csv"
"""Methods' own published Pearson per (cohort, model, metric: ``pearson_gene`` or ``pearson``, as the
paper defines it); each row names its ``source`` and ``table``."""


@dataclass(frozen=True)
class Reported:
    """One reported cell: ``mean`` and its spread as printed (``spread_kind``: "std" or "variance";
    ``spread`` None where none was printed), the ``table`` it is printed in and its ``source``."""

    mean: float
    spread: float | None
    spread_kind: str
    table: str
    source: str = SOURCE

    def text(self) -> str:
        if self.spread is None:
            return f"{self.mean:.3f}"
        if self.spread_kind == "std":
            return f"{self.mean:.3f} ± {self.spread:.2f}"
        return f"{self.mean:.3f} ({self.spread:.3f})"

    def label(self) -> str:
        """Where the value is printed: "paper Table 2" for the GenST paper, else "<source>, <table>"."""
        return f"paper {self.table}" if self.source == SOURCE else f"{self.source}, {self.table}"


@dataclass(frozen=True)
class ReferenceTable:
    """How one reference CSV is read. Every file has ``cohort``, ``model`` and ``mean`` columns; the
    spread column is named ``spread_kind`` (an empty cell: none printed). ``metric``, ``table`` and
    ``source`` are fixed here or, where None, read from the file's column of that name."""

    file: str
    spread_kind: str
    metric: str | None = None
    table: str | None = None
    source: str | None = SOURCE


TABLES = (
    ReferenceTable("genst_table2_pearson.csv", "std", metric="pearson", table="Table 2"),
    ReferenceTable("genst_table3_clustering.csv", "variance", table="Table 3"),
    ReferenceTable(METHODS_FILE, "std", table=None, source=None),
)


def reference_dir() -> Path:
    """``$STBENCH_REFERENCE`` or the repository's ``leaderboard/reference/``."""
    env = os.environ.get("STBENCH_REFERENCE")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "leaderboard" / "reference"


def _rows(folder: Path | None, file: str, columns: set[str]) -> list[dict[str, str]]:
    """The rows of ``folder/file`` (default folder: :func:`reference_dir`), which must have
    ``columns``; none when the file is absent."""
    path = (reference_dir() if folder is None else Path(folder)) / file
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = columns - set(reader.fieldnames or ())
        if missing:
            raise StbenchError(f"leaderboard/reference/{file} lacks the column(s) {', '.join(sorted(missing))}.")
        return list(reader)


def _number(row: dict[str, str], column: str, file: str) -> float:
    """The finite number in ``row[column]``; anything else is one clear error naming the file."""
    text = (row.get(column) or "").strip()
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise StbenchError(f"leaderboard/reference/{file}: column {column!r} holds {text!r}, not a number.")
    return value


def load_reported(folder: Path | None = None) -> dict[tuple[str, str, str], Reported]:
    """(cohort, model, metric) -> :class:`Reported`, from every file of :data:`TABLES` present in
    ``folder``; one value per key across all files."""
    out: dict[tuple[str, str, str], Reported] = {}
    for spec in TABLES:
        columns = {"cohort", "model", "mean", spec.spread_kind}
        columns |= {name for name, fixed in (("metric", spec.metric), ("table", spec.table), ("source", spec.source))
                    if fixed is None}
        for row in _rows(folder, spec.file, columns):
            key = (row["cohort"], row["model"], spec.metric or row["metric"])
            if key in out:
                raise StbenchError(f"leaderboard/reference/{spec.file}: {key} is reported twice; keep one value per "
                                   "cohort, model and metric.")
            spread = _number(row, spec.spread_kind, spec.file) if (row[spec.spread_kind] or "").strip() else None
            out[key] = Reported(_number(row, "mean", spec.file), spread, spec.spread_kind,
                                spec.table or row["table"], spec.source or row["source"])
    return out


def load_hest_reported(folder: Path | None = None) -> dict[tuple[str, str], float]:
    """(cohort, encoder) -> HEST-Benchmark's published mean Pearson (their PCA-256 + ridge probe,
    mean over folds of the per-gene Pearson over each test fold, mean over 50 genes); cohort
    ``hest-bench`` is their nine-task average. Empty when the file is absent."""
    rows = _rows(folder, HEST_FILE, {"cohort", "encoder", "mean"})
    return {(row["cohort"], row["encoder"]): _number(row, "mean", HEST_FILE) for row in rows}
