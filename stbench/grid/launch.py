"""Run (model, cohort, fold, seed) cells: fit, predict slide by slide, score, write one JSON each.

``run()`` is what ``stbench run`` calls: it plans the cells (:mod:`stbench.grid.plan`) and hands
the pending ones to an executor (:mod:`stbench.grid.executors`): in this process, in worker
processes (``jobs > 1``), or as a SLURM job array. Each cell is independent: a failing cell is
reported and the others still run. A valid existing result made on the same split, panel,
profile, seed and settings is skipped unless ``overwrite`` is set; a cell claimed by another
launcher is skipped too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from stbench import registry
from stbench.results import document as results
from stbench.protocol.cohorts import expand_cohort_names, get_cohort
from stbench.errors import StbenchError
from stbench.grid.cell import CellOutcome
from stbench.grid.claims import DEFAULT_STALE_AFTER_S
from stbench.grid.inputs import check_run_inputs
from stbench.progress import RichHook, console, make_progress

EXECUTORS = ("local", "slurm")


@dataclass(frozen=True)
class RunConfig:
    """Everything ``stbench run`` was asked to do.

    ``settings`` are the raw ``--set`` strings; ``slurm`` the SLURM options
    (:class:`stbench.grid.executors.slurm.SlurmOptions`) when ``executor == "slurm"``.
    ``stale_after`` is in seconds (``None``: a claim never goes stale by age). ``seeds`` are the
    training seeds, one cell per seed (each seeds every RNG at the start of its cell; results are
    keyed by seed, :func:`stbench.results.document.cell_path`); ``split_seed`` deals the split of
    a cohort directory (``--cohort PATH``; named cohorts have frozen splits), so several training
    seeds run on one split. ``threads`` is the CPU thread count of every cell (``None``:
    :func:`default_threads`).
    """

    models: tuple[str, ...]
    cohorts: tuple[str, ...]
    folds: tuple[int, ...] | None = None
    results: Path = Path("results")
    profile: str = "auto"
    device: str = "auto"
    seeds: tuple[int, ...] = (0,)
    split_seed: int = 0
    threads: int | None = None
    overwrite: bool = False
    root: Path | None = None
    save_predictions: bool = True
    settings: tuple[str, ...] = ()
    executor: str = "local"
    jobs: int = 1
    gpus: tuple[str, ...] = ()
    slurm: object | None = None
    wait: bool = False
    stale_after: float | None = DEFAULT_STALE_AFTER_S


def resolve_models(spec: str) -> tuple[str, ...]:
    """``all`` or a comma list of registered names (unknown names get 'did you mean')."""
    names = list(registry.available()) if spec == "all" else [s.strip() for s in spec.split(",") if s.strip()]
    for name in names:
        registry.plugin_info(name)
    if not names:
        raise StbenchError("No model given; use --model NAME[,NAME] or --model all.")
    return tuple(names)


def resolve_cohorts(spec: str) -> tuple[str, ...]:
    """A comma list of cohort names or directory paths; ``all`` = the six paper cohorts,
    ``extended`` = the extended cohorts (see :mod:`stbench.protocol.cohorts`)."""
    out = expand_cohort_names(spec)
    for item in out:
        if not Path(item).expanduser().is_dir():
            get_cohort(item)  # raises with 'did you mean' unless it is a known name
    return tuple(out)


def resolve_device(device: str) -> str:
    if device not in ("auto", "cpu", "cuda"):
        raise StbenchError(f"Unknown device {device!r}; use auto, cpu or cuda.")
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise StbenchError("--device cuda was asked for but torch sees no CUDA GPU on this machine.")
    return device


def gpus_device(device: str) -> str:
    """The device of cells run with ``--gpus``: ``auto`` means ``cuda``, and without a CUDA GPU on
    this machine it is an error (not a silent CPU run); ``cpu`` and ``cuda`` as
    :func:`resolve_device` checks them (``cpu`` keeps ``CUDA_VISIBLE_DEVICES`` unused)."""
    if device != "auto":
        return resolve_device(device)
    import torch

    if not torch.cuda.is_available():
        raise StbenchError("--gpus was given but torch sees no CUDA GPU on this machine; "
                           "drop --gpus, or add --device cpu to run on the CPU anyway.")
    return "cuda"


def default_threads(jobs: int = 1) -> int:
    """The CPU threads of each cell when ``--threads`` is not given: ``$OMP_NUM_THREADS`` when it
    is a positive integer, else this process's usable CPUs divided among ``jobs`` workers
    (at least 1)."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cpus // max(1, jobs))


def resolve_threads(threads: int | None, jobs: int = 1) -> int:
    """``--threads``: a positive integer, or ``None`` for :func:`default_threads`."""
    if threads is None:
        return default_threads(jobs)
    if threads < 1:
        raise StbenchError(f"--threads takes a positive number of CPU threads per cell, not {threads}.")
    return threads


def resolve_profile(profile: str, device: str) -> str:
    """``auto`` is the paper profile on a GPU and the small profile on a CPU."""
    if profile == "auto":
        return "paper" if device == "cuda" else "small"
    return profile


def run(cfg: RunConfig) -> list[CellOutcome]:
    """Run every requested cell; returns one outcome per cell (see :class:`CellOutcome`).

    With the SLURM executor and no ``wait``, the submitted cells come back as ``submitted``.
    """
    from stbench.grid import cell
    from stbench.grid.plan import make_plan

    if cfg.executor not in EXECUTORS:
        raise StbenchError(f"Unknown executor {cfg.executor!r}; use local or slurm.")
    if cfg.jobs < 1:
        raise StbenchError(f"--jobs takes a positive number of worker processes, not {cfg.jobs}.")
    if cfg.profile != "auto":  # every input is checked before any data work (and before torch starts)
        check_run_inputs(cfg, cfg.profile)
    if cfg.executor == "slurm":  # the cells run on the cluster's nodes, not on this machine
        gpus = getattr(cfg.slurm, "gpus_per_cell", 0)
        device = cfg.device if cfg.device != "auto" else ("cuda" if gpus else "cpu")
    elif cfg.gpus:
        device = gpus_device(cfg.device)
    else:
        device = resolve_device(cfg.device)
    profile = resolve_profile(cfg.profile, device)
    if cfg.profile == "auto":
        check_run_inputs(cfg, profile)
    workers = cfg.jobs > 1 or bool(cfg.gpus)  # a GPU is given to a worker process before CUDA starts
    if cfg.executor == "slurm" and cfg.threads is None:
        threads = int(getattr(cfg.slurm, "cpus_per_cell", 0) or 1)
    else:
        threads = resolve_threads(cfg.threads, cfg.jobs if workers else 1)
    where = {"local": f"{cfg.jobs} worker process(es)" if workers else "in-process", "slurm": "SLURM"}
    console.print(
        f"device [bold]{device}[/], profile [bold]{profile}[/], seed(s) {','.join(map(str, cfg.seeds))}, "
        f"split seed {cfg.split_seed}, "
        f"{threads} thread(s) per cell, results in {cfg.results}, {where[cfg.executor]}",
        soft_wrap=True,
    )
    with make_progress() as progress:
        hook = RichHook(progress)
        plan = make_plan(cfg, device, profile, threads, hook)
        specs = plan.pending
        if cfg.executor == "slurm":
            outcomes = plan.outcomes + _run_slurm(cfg, plan, progress)
        elif workers and specs:
            from stbench.grid.executors.local import run_workers
            from stbench.grid.plan import mark_queued

            mark_queued(specs, "local")
            outcomes = plan.outcomes + run_workers(specs, cfg.jobs, cfg.gpus, progress)
        else:
            outcomes = list(plan.outcomes)
            task = progress.add_task("cells", total=len(specs))
            for spec in specs:
                outcomes.append(cell.run(spec, hook, loaded=plan.loaded[spec.cohort_name]))
                progress.advance(task)
    for line in results.stale_notice(cfg.results):  # results made under older metric definitions
        console.print(f"[yellow]{line}[/]", soft_wrap=True)
    return outcomes


def _run_slurm(cfg: RunConfig, plan, progress) -> list[CellOutcome]:
    from stbench.grid.executors import slurm
    from stbench.grid.plan import mark_queued, outcome_from_disk

    specs = plan.pending
    if not specs:
        return []
    options = cfg.slurm or slurm.SlurmOptions()
    since = time.time()
    task_ids = slurm.submit(specs, options, Path(cfg.results) / ".submitit")
    mark_queued(specs, "slurm", dict(enumerate(task_ids)))
    job = task_ids[0].split("_")[0]
    console.print(f"submitted SLURM job array [bold]{job}[/] ({len(specs)} cells; {slurm.describe(options)})",
                  soft_wrap=True)
    print(f"SLURM job {job}", flush=True)
    if not cfg.wait:
        return [CellOutcome.of(s, "submitted", message=f"SLURM {t}")
                for s, t in zip(specs, task_ids, strict=True)]
    bar = progress.add_task(f"SLURM job {job}", total=len(specs))
    slurm.wait(task_ids, on_poll=lambda n: progress.update(bar, completed=len(specs) - n))
    return [outcome_from_disk(s, plan, since) for s in specs]


def parse_seeds(seeds: str | None, seed: int | None = None) -> tuple[int, ...]:
    """``--seeds "0,1,2"`` -> (0, 1, 2) (repeats dropped, order kept); ``--seed S`` -> (S,);
    neither -> (0,). Seeds are non-negative integers (they name result files)."""
    if seeds is not None and seed is not None:
        raise StbenchError("Give --seed or --seeds, not both (--seeds 0,1,2 runs one cell per seed).")
    if seeds is None:
        chosen = (0 if seed is None else seed,)
    else:
        try:
            chosen = tuple(dict.fromkeys(int(x) for x in seeds.split(",") if x.strip()))
        except ValueError as exc:
            raise StbenchError(f"--seeds takes comma-separated integers such as 0,1,2, not {seeds!r}.") from exc
        if not chosen:
            raise StbenchError("--seeds is empty; give seeds such as 0,1,2.")
    negative = [s for s in chosen if s < 0]
    if negative:
        raise StbenchError(f"Seeds are non-negative integers, not {negative[0]}.")
    return chosen


def parse_folds(spec: str | None) -> tuple[int, ...] | None:
    """``"0,1,3"`` -> (0, 1, 3); ``None`` -> all folds."""
    if spec is None:
        return None
    try:
        folds = tuple(int(x) for x in spec.split(",") if x.strip())
    except ValueError as exc:
        raise StbenchError(f"--folds takes comma-separated integers such as 0,1,2, not {spec!r}.") from exc
    if not folds:
        raise StbenchError("--folds is empty; give fold numbers such as 0,1,2.")
    return folds


def summarise(outcomes: Sequence[CellOutcome], wall_seconds: float | None = None) -> None:
    """Print the end-of-run table (stdout): one row per cell with its key metrics, then the grid's
    wall time (``wall_seconds``: preparation, every cell and its scoring) when given."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="stbench run")
    for col in ("cohort", "model", "fold", "seed", "status", "pearson", "pearson_gene", "l1", "seconds"):
        table.add_column(col, justify="right" if col not in ("cohort", "model", "status") else "left")
    colour = {"done": "green", "skipped": "cyan", "failed": "red", "claimed": "yellow", "submitted": "blue"}
    for o in outcomes:
        m = o.metrics
        fmt = lambda k: f"{m[k]:.3f}" if k in m and m[k] == m[k] else "—"  # noqa: E731
        table.add_row(
            o.cohort, o.model, str(o.fold) if o.fold >= 0 else "all", str(o.seed) if o.fold >= 0 else "all",
            f"[{colour[o.status]}]{o.status}[/]",
            fmt("pearson"), fmt("pearson_gene"), fmt("l1"), f"{o.seconds:.1f}",
        )
    Console().print(table)
    if wall_seconds is not None:
        done = sum(o.status == "done" for o in outcomes)
        minutes, seconds = divmod(round(wall_seconds), 60)
        print(f"grid time: {minutes} min {seconds:02d} s wall for {len(outcomes)} cells ({done} run here)", flush=True)
