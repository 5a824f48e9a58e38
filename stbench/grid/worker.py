"""Run one cell in its own process, so a plugin that kills its interpreter fails only its cell.

``python -m stbench.grid.worker SPEC.json OUTCOME.json`` runs :func:`stbench.grid.cell.run` and
writes the :class:`~stbench.grid.cell.CellOutcome` as JSON. :func:`run_isolated` starts such a
process with its output appended to the cell's ``log.txt`` and, when the process dies without
an outcome (segfault, ``os._exit``, out-of-memory kill), fails the cell: it leaves
``fold<k>.failed`` and removes the dead process's claim.

The worker ignores the preemption signal (:func:`preemption_signal`): SLURM sends it to every
process of the job step before the time limit or on preemption, and only the worker's parent,
the submitit task, must act on it (it checkpoints and requeues the task); a worker killed by it
would fail its cell.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from stbench.grid import claims
from stbench.grid.spec import CellOutcome, CellSpec


def preemption_signal() -> signal.Signals:
    """The signal submitit's task checkpoints and requeues on: ``SIGUSR2`` unless
    ``SUBMITIT_PREEMPT_SIGNAL`` names another (as submitit reads it)."""
    return signal.Signals[f"SIG{os.environ.get('SUBMITIT_PREEMPT_SIGNAL', 'USR2')}"]


def slurm_label() -> str:
    """`` (SLURM <job>)`` inside a SLURM task, `` (SLURM <job>, restart <n>)`` once requeued, else ``""``."""
    ids = claims.slurm_ids()
    if not ids["slurm_job_id"]:
        return ""
    restarts = int(os.environ.get("SLURM_RESTART_COUNT") or 0)
    return f" (SLURM {claims.job_label(ids)}{f', restart {restarts}' if restarts else ''})"


def start(spec: CellSpec, env: Mapping[str, str] | None = None) -> tuple[subprocess.Popen, Path]:
    """Start the worker process of ``spec``; returns it and the folder holding its spec/outcome."""
    tmp = Path(tempfile.mkdtemp(prefix="stbench-cell-"))
    (tmp / "spec.json").write_text(spec.to_json())
    spec.log_path().parent.mkdir(parents=True, exist_ok=True)
    with open(spec.log_path(), "a") as log:
        proc = subprocess.Popen(
            [sys.executable, "-X", "faulthandler", "-m", "stbench.grid.worker",
             str(tmp / "spec.json"), str(tmp / "outcome.json")],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )
    return proc, tmp


def finish(spec: CellSpec, proc: subprocess.Popen, tmp: Path, seconds: float) -> CellOutcome:
    """The outcome of a finished worker; a worker that died without one fails its cell."""
    outcome_file = tmp / "outcome.json"
    try:
        if outcome_file.exists():
            return CellOutcome(**json.loads(outcome_file.read_text()))
        code = proc.returncode
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        message = f"the worker process died ({how}); see {spec.log_path()}"
        held = claims.read_json(spec.claim_path())
        if held is not None and held.get("pid") == proc.pid and held.get("host") == claims.socket.gethostname():
            spec.claim_path().unlink(missing_ok=True)
        claims.write_marker(spec.failed_path(), {
            "message": message, "log": str(spec.log_path()), "pid": proc.pid, **claims.slurm_ids(),
            "seconds": seconds,
        })
        with open(spec.log_path(), "a") as log:
            log.write(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {message}\n")
        return CellOutcome.of(spec, "failed", seconds, message)
    finally:
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()


def run_isolated(spec: CellSpec, env: Mapping[str, str] | None = None) -> CellOutcome:
    """Run ``spec`` in a worker process and wait for it."""
    t0 = time.perf_counter()
    proc, tmp = start(spec, env)
    proc.wait()
    return finish(spec, proc, tmp, time.perf_counter() - t0)


def main(argv: list[str]) -> int:
    signal.signal(preemption_signal(), signal.SIG_IGN)  # the parent task handles it (module docstring)
    from stbench.grid import cell

    spec_file, outcome_file = map(Path, argv)
    spec = CellSpec.from_json(spec_file.read_text())
    with open(spec.log_path(), "a") as log:  # before the cohort is read: marks when the worker began
        log.write(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] worker pid {os.getpid()} on "
                  f"{claims.socket.gethostname()}{slurm_label()}\n")
    outcome = cell.run(spec, echo=False)
    tmp = outcome_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(outcome.to_dict()))
    os.replace(tmp, outcome_file)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
