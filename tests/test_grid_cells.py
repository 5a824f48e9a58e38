"""The grid: a cell runs the same in-process and in a worker process, claims keep two launchers
off one cell, a plugin that kills its interpreter fails only its own cells, and status shows it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from stbench.cli import main
from stbench.data.demo import generate_demo
from stbench.grid import claims, worker
from stbench.grid.cell import CellSpec
from stbench.grid.status import collect
from stbench.results.document import read_result

PLUGIN = '''
import ctypes
import os
import time
from pathlib import Path

from baselines.mean import MeanPredictor


class Model(MeanPredictor):
    """The mean baseline, with settings that make fit crash its interpreter or wait for a file;
    it records the GPUs it was given (``CUDA_VISIBLE_DEVICES``) under ``training``."""

    name = "gridplug"
    profiles = {"small": {"mode": "ok", "hold": "", "shift": 0.0}, "paper": {"mode": "ok", "hold": "", "shift": 0.0}}

    def fit(self, train, val=None):
        mode = self.config["mode"]
        if mode == "exit":
            os._exit(3)
        if mode == "segfault":
            ctypes.string_at(0)
        hold = self.config["hold"]
        while hold and not Path(hold).exists():
            time.sleep(0.2)
        self.fit_report = {"cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
        return super().fit(train, val)

    def predict(self, data):
        return super().predict(data) + self.config["shift"]
'''


def register_plugin(folder: Path, monkeypatch, name: str = "gridplug", source: str = PLUGIN) -> None:
    """Install the test model ``name`` (module ``source``, class ``Model``) as a plugin: a module
    plus an entry-point dist-info on ``sys.path`` and on ``PYTHONPATH`` (so worker processes and
    SLURM tasks find it too)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(textwrap.dedent(source))
    info = folder / f"{name}-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[stbench.predictors]\n{name} = {name}:Model\n")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")])))
    monkeypatch.delitem(sys.modules, name, raising=False)


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory) -> Path:
    """A six-slide, 300-gene demo cohort as a directory (three patients)."""
    return generate_demo(tmp_path_factory.mktemp("grid") / "small", n_slides=6, genes=300)


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    register_plugin(tmp_path / "site", monkeypatch)


def cell_files(results: Path, model: str, fold: int = 0) -> tuple[Path, Path, Path]:
    (cohort,) = [p for p in results.iterdir() if p.is_dir() and not p.name.startswith(".")]
    base = cohort / model
    return base / f"fold{fold}.json", base / f"fold{fold}.claim", base / f"fold{fold}.failed"


def run(cohort: Path, results: Path, *extra: str, model: str = "mean") -> int:
    return main(["run", "--model", model, "--cohort", str(cohort), "--folds", "0", "--results", str(results), *extra])


def test_cellspec_is_json_serialisable():
    spec = CellSpec("demo", "demo", "genst", 2, "paper", 1, "/r", "cuda", "/d", {"epochs": 3}, False, True, None)
    again = CellSpec.from_json(spec.to_json())
    assert again == spec and json.loads(spec.to_json())["settings"] == {"epochs": 3}
    assert again.resumed().overwrite is False
    assert again.log_path() == Path("/r/demo/genst/fold2-seed1/log.txt")   # seed 1: its own cell
    assert replace(spec, seed=0).result_path() == Path("/r/demo/genst/fold2.json")
    assert replace(spec, settings={"encoder": "uni"}).claim_path() == Path("/r/demo/genst@uni/fold2-seed1.claim")


def test_worker_process_gives_the_in_process_result(small_cohort, tmp_path):
    assert run(small_cohort, tmp_path / "inproc") == 0
    assert run(small_cohort, tmp_path / "workers", "--jobs", "2") == 0
    a, b = (read_result(cell_files(tmp_path / d, "mean")[0]) for d in ("inproc", "workers"))
    assert a["metrics"] == b["metrics"] and a["per_slide"] == b["per_slide"]
    for doc in (a, b):
        assert doc["resources"]["peak_host_mb"] > 10 and doc["resources"]["peak_gpu_mb"] is None
        assert doc["timings"]["total"] >= doc["timings"]["fit"]
    log = cell_files(tmp_path / "workers", "mean")[0].with_suffix("") / "log.txt"
    assert "start " in log.read_text() and "done in" in log.read_text()
    assert not list((tmp_path / "workers").rglob("*.claim"))


def test_claims_are_exclusive_and_released(tmp_path):
    path = tmp_path / "fold0.claim"
    got = []
    threads = [threading.Thread(target=lambda: got.append(claims.acquire(path))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [a for a in got if a.claim is not None]
    assert len(winners) == 1
    assert all("claimed by pid" in a.message for a in got if a.claim is None)
    doc = json.loads(path.read_text())
    assert doc["pid"] == os.getpid() and {"host", "started_at", "slurm_job_id"} <= set(doc)
    winners[0].claim.release()
    assert not path.exists() and not list(tmp_path.iterdir())  # no temp file left behind


def test_stale_claims_are_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = tmp_path / "fold0.claim"
    path.write_text(json.dumps({"host": claims.socket.gethostname(), "pid": dead.pid, "token": "x"}))
    attempt = claims.acquire(path)
    assert attempt.claim is not None and f"process {dead.pid}" in attempt.message
    attempt.claim.release()
    # a live holder on another host goes stale only when its heartbeat is too old
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "y"}))
    assert claims.acquire(path, stale_after=600).claim is None
    old = time.time() - 3600
    os.utime(path, (old, old))
    attempt = claims.acquire(path, stale_after=600)
    assert attempt.claim is not None and "heartbeat is 60 min old" in attempt.message


def test_a_claimed_cell_is_skipped_and_a_stale_one_taken_over(small_cohort, tmp_path, capsys):
    results = tmp_path / "r"
    assert run(small_cohort, results) == 0  # makes the split and the folders
    result, claim, _ = cell_files(results, "mean")
    result.unlink()
    claim.write_text(json.dumps({"host": claims.socket.gethostname(), "pid": os.getpid(), "token": "t"}))
    assert run(small_cohort, results) == 0
    assert "claimed by pid" in capsys.readouterr().err and not result.exists()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    claim.write_text(json.dumps({"host": claims.socket.gethostname(), "pid": dead.pid, "token": "t"}))
    assert run(small_cohort, results) == 0
    assert "took over the stale claim" in capsys.readouterr().err
    assert read_result(result) is not None and not claim.exists()


@pytest.mark.slow
@pytest.mark.parametrize("mode, how", [("exit", "exit status 3"), ("segfault", "signal SIGSEGV")])
def test_a_plugin_that_kills_its_interpreter_fails_only_its_cell(small_cohort, tmp_path, plugin, capsys, mode, how):
    results = tmp_path / "r"
    code = run(small_cohort, results, "--jobs", "2", "--set", f"gridplug.mode={mode!r}".replace("'", '"'),
               model="gridplug,mean")
    assert code == 1
    assert read_result(cell_files(results, "mean")[0]) is not None  # the other cell finished
    result, claim, failed = cell_files(results, "gridplug")
    assert not result.exists() and not claim.exists()
    marker = json.loads(failed.read_text())
    assert how in marker["message"] and marker["log"].endswith("gridplug/fold0/log.txt")
    states = {c.model: c for c in collect(results)}
    assert states["gridplug"].state == "failed" and states["mean"].state == "done"
    assert how in states["gridplug"].detail
    assert main(["status", "--results", str(results)]) == 1
    out = capsys.readouterr().out
    assert "failed" in out and "2 cells: 1 done, 0 running, 0 pending, 1 failed, 0 stale" in out
    if mode == "segfault":
        assert "Segmentation fault" in Path(marker["log"]).read_text()  # faulthandler's trace is kept
    # fixed, the rerun computes only the failed cell and clears its trace
    assert run(small_cohort, results, "--jobs", "2", model="gridplug,mean") == 0
    assert read_result(result) is not None and not failed.exists()


def test_slurm_options_from_toml_and_command_line(tmp_path):
    from stbench.errors import StbenchError
    from stbench.grid.executors.slurm import SlurmOptions

    conf = tmp_path / "cluster.toml"
    conf.write_text('partition = "gpu"\nslurm-gpus-per-cell = 1\n[slurm]\nmem_gb = 64\nqos = "low"\n')
    opts = SlurmOptions.from_sources(conf, {"qos": "high", "time_min": None})
    assert (opts.partition, opts.gpus_per_cell, opts.mem_gb, opts.qos, opts.time_min) == ("gpu", 1, 64, "high", 240)
    conf.write_text("partion = 'gpu'\n")
    with pytest.raises(StbenchError, match="Unknown key 'partion'"):
        SlurmOptions.from_sources(conf, {})


def test_status_of_an_empty_or_missing_folder(tmp_path, capsys):
    assert main(["status", "--results", str(tmp_path / "nope")]) == 2
    assert "No results folder" in capsys.readouterr().err
    assert main(["status", "--results", str(tmp_path)]) == 0
    assert "0 cells: 0 done" in capsys.readouterr().out


ENCODER_PLUGIN = '''
from baselines.mean import MeanPredictor


class Model(MeanPredictor):
    """The mean baseline with an ``encoder`` setting (a frozen-feature model's, here unused)."""

    name = "encplug"
    profiles = {"small": {"encoder": "enc-a"}, "paper": {"encoder": "enc-a"}}
'''


def test_seeds_and_encoders_are_cells_of_their_own(small_cohort, tmp_path, monkeypatch, capsys):
    register_plugin(tmp_path / "site", monkeypatch, "encplug", ENCODER_PLUGIN)
    results = tmp_path / "r"
    assert run(small_cohort, results, "--seeds", "0,2", model="encplug") == 0
    assert run(small_cohort, results, "--seed", "2", "--set", "encoder=enc-b", model="encplug") == 0
    assert run(small_cohort, results, "--set", "encoder=enc-a", model="encplug") == 0   # the profile's own
    assert "skipped" in capsys.readouterr().out   # enc-a is the default: the seed-0 result is current
    (cohort,) = [p for p in results.iterdir() if p.is_dir() and not p.name.startswith(".")]
    found = sorted(str(p.relative_to(cohort)) for p in cohort.glob("*/*.json"))
    assert found == ["encplug/fold0-seed2.json", "encplug/fold0.json", "encplug@enc-b/fold0-seed2.json"]
    assert read_result(cohort / "encplug@enc-b" / "fold0-seed2.json")["model"]["settings"] == {"encoder": "enc-b"}
    assert read_result(cohort / "encplug" / "fold0-seed2.json")["seed"] == 2
    states = [(c.model, c.fold, c.seed, c.state) for c in collect(results)]
    assert states == [("encplug", 0, 0, "done"), ("encplug", 0, 2, "done"), ("encplug@enc-b", 0, 2, "done")]
    assert [c.model for c in collect(results, models=("encplug",))] == ["encplug"] * 2 + ["encplug@enc-b"]
    capsys.readouterr()
    assert run(small_cohort, results, "--set", "encoder=../up", model="encplug") == 2   # names from users
    assert "is not a plain name" in capsys.readouterr().err


@pytest.mark.parametrize(("extra", "message"), [
    (("--seed", "1", "--seeds", "0,1"), "Give --seed or --seeds, not both"),
    (("--seeds", "0,x"), "--seeds takes comma-separated integers"),
    (("--seeds", "-1"), "Seeds are non-negative integers, not -1."),
])
def test_bad_seeds_are_one_sentence(small_cohort, tmp_path, capsys, extra, message):
    assert run(small_cohort, tmp_path / "r", *extra) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def _wait_for(predicate, timeout: float, what: str) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_worker_ignores_the_preemption_signal_its_slurm_task_handles(small_cohort, tmp_path, plugin):
    results, hold = tmp_path / "r", tmp_path / "go"
    assert run(small_cohort, results) == 0  # prepares the cohort and names its results folder
    cohort_name = cell_files(results, "mean")[0].parent.parent.name
    spec = CellSpec(str(small_cohort), cohort_name, "gridplug", 0, "small", 0, str(results), "cpu",
                    settings={"hold": str(hold)})
    proc, tmp = worker.start(spec)
    try:
        _wait_for(spec.claim_path().exists, 120, "the worker to claim its cell")
        os.kill(proc.pid, signal.SIGUSR2)  # SLURM signals every process of the step, the worker too
        time.sleep(1.0)
        assert proc.poll() is None, f"the worker died of SIGUSR2 (status {proc.returncode})"
        hold.touch()
        proc.wait(timeout=120)
    finally:
        proc.kill()
    outcome = worker.finish(spec, proc, tmp, 0.0)
    assert outcome.status == "done" and read_result(spec.result_path()) is not None
    assert not spec.failed_path().exists()


def _stbench(*args: str, **kwargs) -> subprocess.Popen:
    """``stbench ARGS`` in a new process (stdout and stderr piped, text)."""
    code = "import sys; from stbench.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **kwargs)


@pytest.mark.slow
def test_status_watch_refreshes_until_every_cell_is_done(small_cohort, tmp_path, plugin):
    results, hold = tmp_path / "r", tmp_path / "go"
    launcher = _stbench("run", "--model", "gridplug,mean", "--cohort", str(small_cohort), "--folds", "0,1",
                        "--results", str(results), "--jobs", "2", "--set", f'gridplug.hold="{hold}"')
    watcher = None
    try:
        def two_running_two_pending() -> bool:
            assert launcher.poll() is None, launcher.communicate()[0]
            return results.is_dir() and [c.state for c in collect(results)] == ["running"] * 2 + ["pending"] * 2

        # the two gridplug cells hold their workers; the two mean cells wait for a free worker
        _wait_for(two_running_two_pending, 120, "two running and two pending cells")
        # FORCE_COLOR: rich's live display redraws on a pipe as on a terminal, so each refresh is seen
        watcher = _stbench("status", "--results", str(results), "--watch", "--interval", "0.2",
                           env={**os.environ, "FORCE_COLOR": "1", "COLUMNS": "250"})
        time.sleep(2.0)
        assert watcher.poll() is None, watcher.communicate()[0]  # still watching: cells are running
        hold.touch()
        out, _ = watcher.communicate(timeout=240)
        assert watcher.returncode == 0, out
        summaries = [line for line in out.splitlines() if line.startswith("4 cells: ")]
        assert summaries[0] == "4 cells: 0 done, 2 running, 2 pending, 0 failed, 0 stale", out
        assert summaries[-1] == "4 cells: 4 done, 0 running, 0 pending, 0 failed, 0 stale", out
        assert launcher.wait(timeout=120) == 0
    finally:
        for proc in (launcher, watcher):
            if proc is not None:
                proc.kill()
                proc.communicate()


@pytest.mark.slow
def test_gpus_give_each_worker_slot_one_gpu(small_cohort, tmp_path, plugin):
    results = tmp_path / "r"
    # the small cohort's three patient groups make three folds (each slide tested once)
    assert main(["run", "--model", "gridplug", "--cohort", str(small_cohort), "--folds", "0,1,2",
                 "--results", str(results), "--jobs", "2", "--gpus", "3,5", "--device", "cpu"]) == 0
    seen = [read_result(cell_files(results, "gridplug", k)[0])["training"]["cuda_visible_devices"] for k in range(3)]
    assert set(seen) == {"3", "5"}, seen  # one GPU per worker, both slots used
    # --gpus runs the cells in a worker process even with --jobs 1 (CUDA_VISIBLE_DEVICES is set before it starts)
    assert main(["run", "--model", "gridplug", "--cohort", str(small_cohort), "--folds", "0",
                 "--results", str(tmp_path / "one"), "--gpus", "7", "--device", "cpu"]) == 0
    assert read_result(cell_files(tmp_path / "one", "gridplug")[0])["training"]["cuda_visible_devices"] == "7"


@pytest.mark.parametrize("extra, message", [
    (("--gpus", "0,a"), "--gpus takes comma-separated GPU indices such as 0,1, not '0,a'."),
    (("--gpus", ","), "--gpus takes comma-separated GPU indices such as 0,1, not ','."),
    (("--gpus", "0", "--executor", "slurm"), "--gpus goes with --executor local; on SLURM use --slurm-gpus-per-cell."),
])
def test_bad_gpus_is_one_sentence(small_cohort, tmp_path, capsys, extra, message):
    assert run(small_cohort, tmp_path / "r", *extra) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_gpus_with_device_auto_needs_cuda(small_cohort, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU: --device auto with --gpus means cuda here")
    assert run(small_cohort, tmp_path / "r", "--jobs", "2", "--gpus", "0,1") == 2
    assert "--gpus was given but torch sees no CUDA GPU on this machine" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
