"""The GenST paper's reported values (``leaderboard/reference/``), shown beside measured ones.

Table 2 gives mean Pearson ± standard deviation over five folds; Table 3 (Appendix C) gives
clustering means with their **variance** in brackets. Both are shown as printed and never
bolded, ranked or tested; the report adds measured minus reported.

HEST-Benchmark's published encoder table (:data:`HEST_FILE`) is read the same way and shown in
the encoder view (:mod:`stbench.report.encoders`), beside the measured frozen-feature models.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

SOURCE = "Wood et al., GenST (COMPAYL 2025)"
HEST_SOURCE = "HEST-Benchmark's results table dated 03.04.26 (4 March 2026), README of github.com/mahmoodlab/HEST"
HEST_FILE = "hest_benchmark_pearson.csv"
"""HEST-Benchmark's published Pearson per (task cohort, encoder); cohort ``hest-bench`` is their average."""


@dataclass(frozen=True)
class Reported:
    """One reported cell: ``mean`` and its spread as printed (``spread_kind``: "std" or "variance")."""

    mean: float
    spread: float
    spread_kind: str
    table: str

    def text(self) -> str:
        if self.spread_kind == "std":
            return f"{self.mean:.3f} ± {self.spread:.2f}"
        return f"{self.mean:.3f} ({self.spread:.3f})"


def reference_dir() -> Path:
    """``$STBENCH_REFERENCE`` or the repository's ``leaderboard/reference/``."""
    env = os.environ.get("STBENCH_REFERENCE")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "leaderboard" / "reference"


def load_reported(folder: Path | None = None) -> dict[tuple[str, str, str], Reported]:
    """(cohort, model, metric) -> :class:`Reported`; empty when the folder is absent."""
    folder = reference_dir() if folder is None else Path(folder)
    out: dict[tuple[str, str, str], Reported] = {}
    table2 = folder / "genst_table2_pearson.csv"
    if table2.is_file():
        with table2.open() as fh:
            for row in csv.DictReader(fh):
                out[(row["cohort"], row["model"], "pearson")] = Reported(
                    float(row["mean"]), float(row["std"]), "std", "Table 2"
                )
    table3 = folder / "genst_table3_clustering.csv"
    if table3.is_file():
        with table3.open() as fh:
            for row in csv.DictReader(fh):
                out[(row["cohort"], row["model"], row["metric"])] = Reported(
                    float(row["mean"]), float(row["variance"]), "variance", "Table 3"
                )
    return out


def load_hest_reported(folder: Path | None = None) -> dict[tuple[str, str], float]:
    """(cohort, encoder) -> HEST-Benchmark's published mean Pearson (their PCA-256 + ridge probe,
    mean over folds of the per-gene Pearson over each test fold, mean over 50 genes); cohort
    ``hest-bench`` is their nine-task average. Empty when the file is absent."""
    path = (reference_dir() if folder is None else Path(folder)) / HEST_FILE
    if not path.is_file():
        return {}
    with path.open() as fh:
        return {(row["cohort"], row["encoder"]): float(row["mean"]) for row in csv.DictReader(fh)}
