"""Compute cells on this machine: in-process, or in ``jobs`` worker processes (one cell each)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.progress import Progress

from stbench.grid import worker
from stbench.grid.cell import CellOutcome, CellSpec
from stbench.progress import console


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def run_workers(
    specs: Sequence[CellSpec], jobs: int, gpus: Sequence[str] = (), progress: Progress | None = None,
) -> list[CellOutcome]:
    """Run every spec in its own worker process, at most ``jobs`` at a time.

    With ``gpus`` (e.g. ``["0", "1"]``) worker slot ``s`` gets ``gpus[s % len(gpus)]`` as
    ``CUDA_VISIBLE_DEVICES`` (with more jobs than GPUs, slots share a GPU). Outcomes come back
    in the order of ``specs``. Each worker's BLAS/OpenMP thread variables (``OMP_NUM_THREADS``
    etc.) are its cell's ``threads`` (see :func:`stbench.runner.default_threads`).
    """
    queue = list(enumerate(specs))
    running: dict[int, tuple] = {}
    free_slots = list(range(jobs))
    outcomes: dict[int, CellOutcome] = {}
    task = progress.add_task(f"cells ({jobs} workers)", total=len(specs)) if progress else None
    while queue or running:
        while queue and len(running) < jobs:
            i, spec = queue.pop(0)
            slot = free_slots.pop(0)
            env = {v: str(spec.threads) for v in THREAD_VARIABLES}
            if gpus:
                env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
            proc, tmp = worker.start(spec, env)
            running[i] = (spec, proc, tmp, time.perf_counter(), slot)
        time.sleep(0.2)
        for i, (spec, proc, tmp, t0, slot) in list(running.items()):
            if proc.poll() is None:
                continue
            del running[i]
            free_slots.append(slot)
            outcome = outcomes[i] = worker.finish(spec, proc, tmp, time.perf_counter() - t0)
            colour = {"done": "green", "failed": "red"}.get(outcome.status, "cyan")
            console.print(f"[{colour}]{outcome.status}[/] {spec.label} ({outcome.seconds:.1f} s)"
                          + (f": {outcome.message}" if outcome.message else ""), soft_wrap=True)
            if progress is not None:
                progress.advance(task)
    return [outcomes[i] for i in range(len(specs))]
