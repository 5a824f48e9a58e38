"""The SLURM executor on a real (single-node) SLURM cluster: ``make slurm-up`` starts one.

Without a cluster these tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from stbench.grid.claims import job_label
from stbench.grid.status import collect
from stbench.results import read_result
from tests.test_grid_cells import cell_files, plugin, run, small_cohort  # noqa: F401  (fixtures)


def _cluster_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20)
    return out.returncode == 0 and any(s.strip() in ("idle", "mixed", "allocated") for s in out.stdout.split())


@pytest.fixture(scope="module", autouse=True)
def slurm_cluster():
    if not _cluster_up():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no SLURM cluster answers; run 'make slurm-up' (needs root).")
        pytest.skip("no SLURM cluster; 'make slurm-up' starts one")


def _wait_for(predicate, timeout: float, what: str) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_slurm_job_array_gives_the_in_process_results(small_cohort, tmp_path, capsys):
    models = "mean,ridge"
    assert run(small_cohort, tmp_path / "local", model=models) == 0
    assert run(small_cohort, tmp_path / "slurm", "--executor", "slurm", "--wait", "--slurm-cpus-per-cell", "1",
               model=models) == 0
    out = capsys.readouterr().out
    assert "SLURM job " in out
    for model in models.split(","):
        a, b = (read_result(cell_files(tmp_path / d, model)[0]) for d in ("local", "slurm"))
        assert a["metrics"] == b["metrics"], model
        log = cell_files(tmp_path / "slurm", model)[0].with_suffix("") / "log.txt"
        assert " SLURM " in log.read_text()
    assert {c.state for c in collect(tmp_path / "slurm")} == {"done"}


@pytest.mark.slow
def test_a_worker_killed_mid_cell_fails_its_cell_and_the_rerun_completes(small_cohort, tmp_path, plugin, capsys):
    results = tmp_path / "r"
    hold = tmp_path / "go"
    args = ("--set", f'gridplug.hold="{hold}"', "--executor", "slurm", "--slurm-cpus-per-cell", "1")
    assert run(small_cohort, results, *args, model="gridplug") == 0  # submits and returns
    job = capsys.readouterr().out.split("SLURM job ")[1].split()[0]
    claim = cell_files(results, "gridplug")[1]
    _wait_for(claim.exists, 120, "the task to claim its cell")
    held = json.loads(claim.read_text())
    assert job_label(held).split("_")[0] == job and held["host"] and held["pid"]
    assert collect(results)[0].state == "running"
    os.kill(held["pid"], 9)  # the worker process dies mid-fit, as in an out-of-memory kill
    _wait_for(lambda: subprocess.run(["squeue", "-h", "-j", job], capture_output=True, text=True).stdout.strip() == "",
              60, "the task to finish")
    state = collect(results)[0]
    assert state.state == "failed" and "signal SIGKILL" in state.detail and not claim.exists()
    # a claim left by a task SLURM no longer runs (a node that vanished) is stale
    claim.write_text(json.dumps({**held, "host": "gone-node", "token": "old"}))
    state = collect(results)[0]
    assert state.state == "stale" and "no longer running" in state.detail
    hold.touch()
    assert run(small_cohort, results, "--set", f'gridplug.hold="{hold}"', model="gridplug") == 0
    assert "took over the stale claim" in capsys.readouterr().err
    assert read_result(cell_files(results, "gridplug")[0]) is not None
    assert [c.state for c in collect(results)] == ["done"]
