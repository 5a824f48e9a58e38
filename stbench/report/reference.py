"""The GenST paper's reported values (``leaderboard/reference/``), shown beside measured ones.

Table 2 gives mean Pearson ± standard deviation over five folds; Table 3 (Appendix C) gives
clustering means with their **variance** in brackets. Both are shown as printed and never
bolded, ranked or tested; the report adds measured minus reported.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

SOURCE = "Wood et al., GenST (COMPAYL 2025)"


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
