"""The SLURM executor on a real (single-node) SLURM cluster: ``make slurm-up`` starts one.

Without a cluster these tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from safetensors import safe_open

from stbench.grid.claims import job_label
from stbench.grid.status import collect
from stbench.results.document import read_result
from tests.test_grid_cells import (  # noqa: F401  (fixtures)
    _wait_for, cell_files, plugin, register_plugin, run, small_cohort,
)

SLOWFIT = '''
import time
from types import SimpleNamespace

import numpy as np
import torch

from stbench import Predictor
from stbench.torchkit.training import RowBatches, train_predictor


class Model(Predictor):
    """A linear map of a constant input, trained by the shared recipe (a checkpoint after every
    epoch in the cell's workdir); each epoch sleeps ``pause`` seconds, so a fit can be interrupted."""

    name = "slowfit"
    profiles = {"small": {"epochs": 30, "pause": 1.0}, "paper": {"epochs": 30, "pause": 1.0}}

    def fit(self, train, val=None):
        y = torch.from_numpy(train.expression())
        x = torch.ones(len(y), 1)
        self.model_ = torch.nn.Linear(1, train.n_genes)

        def step(model, rows):
            time.sleep(self.config["pause"])
            return ((model(x[rows]) - y[rows]) ** 2).mean()

        cfg = SimpleNamespace(epochs=self.config["epochs"], patience=None, lr=0.05, weight_decay=0.0)
        train_predictor(self, self.model_, RowBatches(len(y), len(y)), step, cfg, train=train, val=None,
                        validate=None, val_score=None)
        return self

    def predict(self, data):
        with torch.no_grad():
            return self.model_(torch.ones(data.n_spots, 1)).numpy()
'''


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


def _squeue(job: str) -> str:
    return subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True).stdout.strip()


def _checkpoint_epoch(state_file: Path) -> int:
    """The finished epochs recorded in a torchkit state file (0 while there is none)."""
    try:
        with safe_open(str(state_file), "pt") as f:
            return json.loads(f.metadata()["train_state"])["epoch"]
    except (OSError, KeyError, ValueError):
        return 0


@pytest.fixture
def cancel_jobs():
    """A list to put SLURM job ids in; they are cancelled when the test ends (passed or not)."""
    jobs: list[str] = []
    yield jobs
    if jobs:
        subprocess.run(["scancel", *jobs], capture_output=True)


@pytest.mark.slow
def test_a_preempted_task_is_requeued_and_resumes_from_its_checkpoint(
    small_cohort, tmp_path, monkeypatch, capsys, cancel_jobs,
):
    register_plugin(tmp_path / "site", monkeypatch, "slowfit", SLOWFIT)
    results = tmp_path / "r"
    assert run(small_cohort, results, "--executor", "slurm", "--slurm-cpus-per-cell", "1", model="slowfit") == 0
    cancel_jobs.append(capsys.readouterr().out.split("SLURM job ")[1].split()[0])
    result, claim, failed = cell_files(results, "slowfit")
    state_file = result.with_suffix("") / "slowfit-state.safetensors"
    _wait_for(lambda: _checkpoint_epoch(state_file) >= 2, 180, "two epochs to be checkpointed")
    task = job_label(json.loads(claim.read_text()))  # "<job>" (one cell: no array) or "<job>_<index>"
    # what SLURM does --signal=USR2@90 before the time limit (or on preemption): USR2 to every
    # process of the job's steps, not to the batch shell
    subprocess.run(["scancel", "--signal=USR2", task], check=True)
    interrupted_at = _checkpoint_epoch(state_file)
    # SLURM holds the requeued job back for the credential lifetime (AuthInfo=cred_expire: 120 s by
    # default, 30 s in the test cluster's slurm.conf, scripts/slurm-up.sh), until the node has let
    # go of the interrupted run (releasing it earlier with `scontrol update StartTime=now` races
    # that cleanup: slurmctld then kills it as "non-startable: Job credential revoked")
    _wait_for(lambda: _squeue(task) == "", 300, "the requeued task to finish")
    log = (result.with_suffix("") / "log.txt").read_text()
    doc = read_result(result)
    assert doc is not None, log
    training = doc["training"]
    assert training["epochs_run"] == training["max_epochs"] == 30
    assert interrupted_at <= training["resumed_from_epoch"] < 30, log
    assert f"interrupted (SLURM {task}) by the time limit or a preemption: requeued" in log
    assert f"SLURM {task}, restart 1)" in log
    assert f"took over its own claim: SLURM task {task} was requeued" in log
    submitit_log = "".join(f.read_text() for f in (results / ".submitit").rglob("*_log.out"))
    assert "Caught signal SIGUSR2" in submitit_log and "Requeued job" in submitit_log
    assert not failed.exists() and not claim.exists()
    assert [c.state for c in collect(results)] == ["done"]
