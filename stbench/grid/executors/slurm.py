"""Submit cells to SLURM as one job array through submitit: one array task per cell.

Each task runs its cell in a worker process (:func:`stbench.grid.worker.run_isolated`), so a
plugin that kills its interpreter fails only that task's cell, which leaves ``fold<k>.failed``.
A task that times out or is preempted is requeued by submitit (``checkpoint``) and resumes
from the model's checkpoints in the cell's folder (a requeued task takes over its own claim).
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import submitit

from stbench.errors import StbenchError
from stbench.grid import worker
from stbench.grid.spec import CellSpec
from stbench.grid.claims import SLURM_ACTIVE, slurm_job_states


@dataclass(frozen=True)
class SlurmOptions:
    """The resources of one array task (one cell). ``None`` leaves a value to the cluster."""

    partition: str | None = None
    gpus_per_cell: int = 0
    cpus_per_cell: int = 2
    mem_gb: float | None = None
    time_min: int = 240
    account: str | None = None
    qos: str | None = None
    max_parallel: int | None = None

    def __post_init__(self) -> None:
        """Check every option's type and range (one sentence each), before anything is submitted."""
        texts = ("partition", "account", "qos")
        least = {"gpus_per_cell": 0, "cpus_per_cell": 1, "time_min": 1, "max_parallel": 1}
        for name in (*texts, *least, "mem_gb"):
            value = getattr(self, name)
            flag = "--slurm-" + name.replace("_", "-")
            if value is None and name in (*texts, "max_parallel", "mem_gb"):
                continue
            if name in texts:
                if not isinstance(value, str):
                    raise StbenchError(f"SLURM option {flag} takes text, not {value!r}.")
                continue
            whole = name != "mem_gb"
            if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
                raise StbenchError(f"SLURM option {flag} takes {'a whole number' if whole else 'a number'}, not {value!r}.")
            if (value < least[name]) if whole else (value <= 0):
                bound = f"at least {least[name]}" if whole else "above 0"
                raise StbenchError(f"SLURM option {flag} must be {bound}, not {value!r}.")

    @classmethod
    def from_sources(cls, config_file: Path | None, cli: Mapping[str, Any]) -> SlurmOptions:
        """The TOML file's keys (``partition = "gpu"``, ``slurm-partition``, ``slurm_partition``,
        top level or under ``[slurm]``), overridden by command-line values that are not ``None``."""
        values: dict[str, Any] = {}
        names = {f.name for f in fields(cls)}
        if config_file is not None:
            try:
                doc = tomllib.loads(Path(config_file).read_text())
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise StbenchError(f"Cannot read the executor config {config_file}: {exc}.") from exc
            doc = {**doc, **doc.get("slurm", {})}
            doc.pop("slurm", None)
            for key, value in doc.items():
                name = key.replace("-", "_").removeprefix("slurm_")
                if name not in names:
                    raise StbenchError(
                        f"Unknown key {key!r} in {config_file}; the keys are {', '.join(sorted(names))}."
                    )
                values[name] = value
        values.update({k: v for k, v in cli.items() if v is not None})
        return cls(**values)


class CellTask(submitit.helpers.Checkpointable):
    """What a SLURM array task runs: one cell, in a worker process; requeued on timeout.

    SLURM sends ``SIGUSR2`` to the task's processes 90 s before its time limit (submitit's
    ``--signal=USR2@90``) or when it is preempted; submitit's handler in this process then calls
    :meth:`checkpoint` and ``scontrol requeue``; the worker ignores the signal
    (:mod:`stbench.grid.worker`) and is stopped by the requeue. The requeued task runs the cell
    again: it takes over its own claim and the model resumes from its last epoch checkpoint.
    """

    def __call__(self, spec_json: str) -> dict[str, Any]:
        return worker.run_isolated(CellSpec.from_json(spec_json)).to_dict()

    def checkpoint(self, spec_json: str) -> submitit.helpers.DelayedSubmission:
        """The submission the requeued task runs: the same cell, keeping its checkpoints."""
        spec = CellSpec.from_json(spec_json).resumed()
        with open(spec.log_path(), "a") as log:
            log.write(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] interrupted{worker.slurm_label()} by the time "
                      "limit or a preemption: requeued, to resume from the checkpoints\n")
        return submitit.helpers.DelayedSubmission(self, spec.to_json())


def submit(specs: Sequence[CellSpec], options: SlurmOptions, folder: Path) -> list[str]:
    """Submit ``specs`` as one job array; returns the task ids (``"<job>_<index>"``) in order."""
    executor = submitit.SlurmExecutor(folder=str(folder / "%j"))
    params: dict[str, Any] = {
        "job_name": "stbench", "time": options.time_min, "cpus_per_task": options.cpus_per_cell,
        "partition": options.partition, "account": options.account, "qos": options.qos,
        "stderr_to_stdout": True,
    }
    if options.gpus_per_cell:
        params["gpus_per_node"] = options.gpus_per_cell
    if options.mem_gb is not None:
        params["mem"] = f"{int(options.mem_gb * 1024)}MB"
    if options.max_parallel is not None:
        params["array_parallelism"] = options.max_parallel
    executor.update_parameters(**{k: v for k, v in params.items() if v is not None})
    try:
        jobs = executor.map_array(CellTask(), [s.to_json() for s in specs])
    except (submitit.core.utils.FailedJobError, OSError) as exc:
        raise StbenchError(f"sbatch refused the job array: {str(exc).strip().splitlines()[-1]}") from exc
    return [job.job_id for job in jobs]


def wait(task_ids: Sequence[str], poll_s: float = 2.0, on_poll=None) -> None:
    """Block until none of ``task_ids`` is pending or running (read with ``squeue``, which needs
    no accounting database). ``on_poll(n_active)`` is called after each look."""
    while True:
        states = slurm_job_states(list({t.split("_")[0] for t in task_ids}))
        if states is None:
            raise StbenchError("squeue is not available; cannot wait for the SLURM job.")
        active = [t for t in task_ids if states.get(t) in SLURM_ACTIVE]
        if on_poll is not None:
            on_poll(len(active))
        if not active:
            return
        time.sleep(poll_s)


def describe(options: SlurmOptions) -> str:
    return ", ".join(f"{k}={v}" for k, v in asdict(options).items() if v is not None)
