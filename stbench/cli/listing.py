"""``stbench list``: installed models and known cohorts."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from stbench import registry
from stbench.protocol.cohorts import COHORTS, is_paper_cohort
from stbench.data.inventory import cohort_status
from stbench.errors import StbenchError


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
    """One row per named cohort: whether it is the paper's (``--cohort all``), extended
    (``--cohort extended``) or HEST-Benchmark's (``--cohort hest-bench``), frozen slide count,
    downloaded, prepared (under ``root``)."""
    rows = []
    for st in cohort_status(root):
        prepared = f"yes ({st['n_genes']} genes, {st['n_spots']} spots)" if st["prepared"] else "no"
        spec = COHORTS[st["name"]]
        kind = ("paper" if is_paper_cohort(spec.name) else "built-in" if spec.source == "demo"
                else "hest-bench" if spec.published else "extended")
        rows.append({"name": st["name"], "set": kind, "source": st["source"], "slides": str(st["slides"] or "—"),
                     "downloaded": st["downloaded"], "prepared": prepared})
    return rows


def print_listing(root: Path | None) -> None:
    """The models and cohorts: tables on a terminal, tab-separated lines when piped. Names are
    never cut (they are what a user copies into ``--cohort`` or ``--model``); on a narrow
    terminal the other columns wrap instead."""
    console = Console()
    for title, rows in (("models", model_rows()), ("cohorts", cohort_rows(root))):
        columns = list(rows[0]) if rows else ["name"]
        if not console.is_terminal:
            print(f"# {title}")
            print("\t".join(columns))
            for row in rows:
                print("\t".join(row.values()))
            continue
        table = Table(title=title)
        widest = max((len(row["name"]) for row in rows), default=4)
        for col in columns:
            if col == "name":
                table.add_column(col, no_wrap=True, min_width=widest)
            else:
                table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(*row.values())
        console.print(table)


def settings_rows(model: str) -> tuple[list[str], list[dict[str, str]]]:
    """The profiles of ``model`` and one row per setting: its default in each profile
    (``—`` where a profile lacks it)."""
    cls = registry.get_predictor_class(model)
    profiles = list(cls.profiles)
    keys: list[str] = []
    for prof in profiles:
        keys += [k for k in cls.profiles[prof] if k not in keys]
    rows = [{"setting": k, **{p: repr(cls.profiles[p][k]) if k in cls.profiles[p] else "—" for p in profiles}}
            for k in keys]
    return profiles, rows


def print_settings(model: str) -> None:
    """``stbench list --settings MODEL``: a table of settings x profiles (defaults)."""
    profiles, rows = settings_rows(model)
    table = Table(title=f"settings of {model!r} (override with stbench run --set {model}.KEY=VALUE)")
    for col in ("setting", *profiles):
        table.add_column(col)
    for row in rows:
        table.add_row(*row.values())
    Console().print(table)
