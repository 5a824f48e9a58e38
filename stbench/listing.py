"""``stbench list``: installed models and known cohorts."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from stbench import registry
from stbench.cohorts import COHORTS
from stbench.errors import StbenchError
from stbench.paths import data_root
from stbench.splits import load_split


def model_rows() -> list[dict[str, str]]:
    """One row per registered model; importing it tells its version and whether it is an oracle."""
    rows = []
    for name, info in registry.available().items():
        try:
            cls = registry.get_predictor_class(name)
            version, oracle = cls.version, "yes" if cls.oracle else "no"
        except StbenchError as exc:
            version, oracle = "?", f"import error: {exc}"
        rows.append({"name": name, "distribution": f"{info.distribution} {info.distribution_version}",
                     "version": version, "oracle": oracle})
    return rows


def cohort_rows(root: Path | None) -> list[dict[str, str]]:
    """One row per named cohort: frozen slide count and whether it is prepared under ``root``."""
    rows = []
    for name, spec in COHORTS.items():
        try:
            slides = str(len(load_split(name).slides))
        except StbenchError:
            slides = "no split file"
        manifest = data_root(root) / "prepared" / name / "manifest.json"
        if manifest.is_file():
            m = json.loads(manifest.read_text())
            prepared = f"yes ({len(m.get('slides', []))} slides, {m.get('n_genes', '?')} genes)"
        else:
            prepared = "no"
        rows.append({"name": name, "source": spec.source, "slides": slides, "prepared": prepared})
    return rows


def print_listing(root: Path | None) -> None:
    console = Console()
    for title, rows in (("models", model_rows()), ("cohorts", cohort_rows(root))):
        table = Table(title=title)
        for col in rows[0] if rows else ["name"]:
            table.add_column(col)
        for row in rows:
            table.add_row(*row.values())
        console.print(table)
