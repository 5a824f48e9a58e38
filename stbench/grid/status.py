"""``stbench status``: the state of every cell found in a results folder.

A cell is known from any of its files (``<cell>.json`` / ``.claim`` / ``.failed`` / ``.queued``,
where ``<cell>`` is ``fold<k>`` or ``fold<k>-seed<s>`` under ``<cohort>/<model>`` or
``<cohort>/<model>@<encoder>``: :func:`stbench.results.document.cell_path`) and is, in this
order of precedence:

* **running**: a live claim (its job, host and pid, and how long it has run);
* **stale**: a claim whose holder is gone (the next launcher takes it over), newer than the
  cell's other files;
* **failed**: a ``.failed`` marker newer than any result (its message and ``log.txt``);
* **done**: a valid result (its total seconds);
* **invalid**: a result file that is not a valid result (truncated, damaged, another schema, a
  metric that is no number in its range: the definition ``report`` and ``validate`` share,
  :mod:`stbench.results.validity`), with the sentence naming the file;
* **pending**: scheduled by a launcher (``.queued``) but not started.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from stbench.results import document as results
from stbench.grid import claims
from stbench.grid.spec import LOG_NAME
from stbench.results.validity import load_valid

STATES = ("done", "running", "pending", "failed", "stale", "invalid")
COLOURS = {"done": "green", "running": "blue", "pending": "white", "failed": "red", "stale": "yellow", "invalid": "red"}
_CELL = re.compile(r"^fold(\d+)(?:-seed(\d+))?\.(json|claim|failed|queued)$")


@dataclass(frozen=True)
class CellState:
    """One cell's state; ``model`` is its entry in the layout (``model`` or ``model@encoder``)."""

    cohort: str
    model: str
    fold: int
    state: str
    job: str = "—"
    seconds: float | None = None
    detail: str = ""
    seed: int = 0


def _cells(
    root: Path, cohorts: tuple[str, ...] | None, models: tuple[str, ...] | None
) -> list[tuple[str, str, int, int]]:
    """(cohort, entry, fold, seed) of every cell with a file under ``root``; ``models`` matches an
    entry by its full name or by its model's name (``ridge`` matches ``ridge@uni``)."""
    found = set()
    for path in root.glob("*/*/fold*.*"):
        m = _CELL.match(path.name)
        if not m:
            continue
        cohort, entry = path.parent.parent.name, path.parent.name
        model = entry.split(results.ENTRY_SEPARATOR)[0]
        if (cohorts is None or cohort in cohorts) and (models is None or entry in models or model in models):
            found.add((cohort, entry, int(m.group(1)), int(m.group(2) or 0)))
    return sorted(found)


def cell_state(root: Path, cohort: str, model: str, fold: int, stale_after: float | None, seed: int = 0) -> CellState:
    """The state of one cell from its files (see the module docstring); ``model`` is its entry."""
    cell = results.cell_path(root, cohort, model, fold, seed)
    result_file = cell.with_suffix(".json")
    claim_file = claims.claim_path(cell)
    log = cell / LOG_NAME
    state = lambda *args: CellState(cohort, model, fold, *args, seed=seed)  # noqa: E731
    held = claims.read_json(claim_file)
    stale, mtime = None, 0.0
    if held is not None:
        try:
            mtime = claim_file.stat().st_mtime
        except FileNotFoundError:
            held = None
        else:
            stale = claims.stale_reason(held, mtime, stale_after)
            if stale is None:
                started = held.get("started_at")
                return state("running", claims.job_label(held),
                             time.time() - started if isinstance(started, (int, float)) else None,
                             f"on {held.get('host', '?')}")
    valid, invalid = load_valid(result_file) if result_file.exists() else (None, [])
    doc = valid.document if valid is not None else None
    failed = claims.read_json(claims.failed_path(cell))
    result_mtime = result_file.stat().st_mtime if doc is not None else 0.0
    if held is not None and (failed is None or mtime > failed.get("written_at", 0)) and mtime >= result_mtime:
        return state("stale", claims.job_label(held), None, stale or "")
    if failed is not None and failed.get("written_at", 0) >= result_mtime:
        return state("failed", claims.job_label(failed), failed.get("seconds"),
                     f"{failed.get('message', '')} (log: {failed.get('log', log)})")
    if doc is not None:
        timings = doc.get("timings", {})
        total = timings.get("total", sum(v for v in timings.values() if isinstance(v, (int, float))))
        mem = doc.get("resources", {})
        detail = f"peak host {mem['peak_host_mb']:.0f} MiB" if mem.get("peak_host_mb") else ""
        if mem.get("peak_gpu_mb"):
            detail += f", peak GPU {mem['peak_gpu_mb']:.0f} MiB"
        return state("done", "—", total, detail)
    if held is not None:
        return state("stale", claims.job_label(held), None, stale or "")
    if invalid:  # a result file that is not a valid result (truncated, damaged) is not "pending"
        return state("invalid", "—", None, invalid[0])
    queued = claims.read_json(claims.queued_path(cell)) or {}
    since = queued.get("queued_at")
    return state("pending", queued.get("job") or "—",
                 time.time() - since if isinstance(since, (int, float)) else None,
                 f"queued ({queued.get('executor', '?')})")


def collect(root: Path, cohorts: tuple[str, ...] | None = None, models: tuple[str, ...] | None = None,
            stale_after: float | None = claims.DEFAULT_STALE_AFTER_S) -> list[CellState]:
    """Every cell of ``root`` (optionally only these cohorts / models), with its state."""
    cells = _cells(root, cohorts, models)
    return [cell_state(root, c, m, k, stale_after, seed) for c, m, k, seed in cells]


def summary_line(states: list[CellState]) -> str:
    counts = {s: sum(c.state == s for c in states) for s in STATES}
    return f"{len(states)} cells: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n or s != "invalid")


def render(states: list[CellState], root: Path) -> Group:
    table = Table(title=f"stbench status: {root}")
    for col in ("cohort", "model", "fold", "seed", "state", "job", "time", "detail"):
        table.add_column(col, justify="right" if col in ("fold", "seed", "time") else "left", overflow="fold")
    for c in states:
        table.add_row(c.cohort, c.model, str(c.fold), str(c.seed), f"[{COLOURS[c.state]}]{c.state}[/]", c.job,
                      _duration(c.seconds), Text(c.detail))
    return Group(table, Text(summary_line(states)))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def show_status(root: Path, cohorts: tuple[str, ...] | None = None, models: tuple[str, ...] | None = None,
                watch: bool = False, interval: float = 5.0) -> int:
    """Print the status table and summary; with ``watch``, refresh every ``interval`` seconds
    until no cell is running or pending. Returns 1 when a cell failed or its result is invalid, else 0."""
    console = Console()
    if not root.is_dir():
        from stbench.errors import StbenchError

        raise StbenchError(f"No results folder {root}.")
    states = collect(root, cohorts, models)
    if watch:
        with Live(render(states, root), console=console, refresh_per_second=1) as live:
            while any(c.state in ("running", "pending") for c in states):
                time.sleep(interval)
                states = collect(root, cohorts, models)
                live.update(render(states, root))
    else:
        console.print(render(states, root))
    return 1 if any(c.state in ("failed", "invalid") for c in states) else 0
