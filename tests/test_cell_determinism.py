"""A trained cell's numbers do not depend on what its process did before it.

The same ST-Net cell (``small`` profile, fold 0 of a small cohort directory, ``--threads 1``)
runs three ways: in-process right after this process prepared the cohort (preparation loads
numba's llvmlite, which raises OpenMP's default thread count to the CPU count), in a fresh
process that finds the cohort prepared, and as a ``--jobs 2`` worker. Every metric must be
identical, and every result records the thread count it ran with. Also: ``--split-seed`` deals
the split and ``--seed`` only seeds training.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stbench.cli import main
from stbench.data.demo import generate_demo
from stbench.results.document import read_result




def _result(results: Path, model: str = "stnet") -> dict:
    (path,) = results.glob(f"*/{model}/fold0*.json")  # fold0.json (seed 0) or fold0-seed<s>.json
    return read_result(path)


def _run_args(cohort: Path, results: Path, *extra: str) -> list[str]:
    return ["run", "--model", "stnet", "--cohort", str(cohort), "--folds", "0", "--profile", "small",
            "--device", "cpu", "--threads", "1", "--results", str(results), *extra]


@pytest.mark.slow
def test_same_cell_same_numbers_in_process_fresh_process_and_worker(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STBENCH_DATA", str(tmp_path / "data"))  # nothing prepared yet: the first run prepares
    cohort = generate_demo(tmp_path / "cohort", n_slides=6, genes=300)

    assert main(_run_args(cohort, tmp_path / "in-process")) == 0
    code = "import sys; from stbench.cli import main; sys.exit(main(sys.argv[1:]))"
    fresh = subprocess.run([sys.executable, "-c", code, *_run_args(cohort, tmp_path / "fresh")],
                           capture_output=True, text=True, timeout=600)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert main(_run_args(cohort, tmp_path / "worker", "--jobs", "2")) == 0

    docs = {name: _result(tmp_path / name) for name in ("in-process", "fresh", "worker")}
    for name, doc in docs.items():
        assert doc["environment"]["threads"] == 1, name
        assert doc["training"]["epochs_run"] >= 1, name  # a trained cell, not the epoch-0 mean
    reference = docs["in-process"]["metrics"]
    for name in ("fresh", "worker"):
        assert docs[name]["metrics"] == reference, f"{name} differs from the in-process cell"


@pytest.mark.slow
def test_training_seed_keeps_the_split_and_split_seed_deals_another(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STBENCH_DATA", str(tmp_path / "data"))
    cohort = generate_demo(tmp_path / "cohort", n_slides=6, genes=300)
    base = ["run", "--model", "mean", "--cohort", str(cohort), "--folds", "0", "--device", "cpu"]

    assert main([*base, "--results", str(tmp_path / "a"), "--seed", "0"]) == 0
    assert main([*base, "--results", str(tmp_path / "b"), "--seed", "1"]) == 0
    assert main([*base, "--results", str(tmp_path / "c"), "--seed", "1", "--split-seed", "5"]) == 0
    a, b, c = (_result(tmp_path / n, "mean") for n in "abc")
    assert (a["seed"], b["seed"], c["seed"]) == (0, 1, 1)
    assert a["cohort"]["split_sha256"] == b["cohort"]["split_sha256"] != c["cohort"]["split_sha256"]
    assert (a["cohort"]["split_seed"], b["cohort"]["split_seed"], c["cohort"]["split_seed"]) == (0, 0, 5)


def test_bad_thread_count_is_one_sentence(tmp_path: Path, capsys) -> None:
    assert main(["run", "--model", "mean", "--cohort", "demo", "--threads", "0", "--results", str(tmp_path)]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--threads" in err, err


PERTURB = """
import sys
import numpy as np
import torch
from numba import njit, prange

@njit(parallel=True)
def total(x):  # a parallel numba kernel, as scanpy runs while a cohort is prepared
    s = 0.0
    for i in prange(x.shape[0]):
        s += x[i]
    return s

before = torch.get_num_threads()
total(np.ones(1000))
raised = torch.get_num_threads()
from stbench.grid.cell import start_state
start_state(0, 1)
print(before, raised, torch.get_num_threads())
"""


@pytest.mark.skipif(os.cpu_count() == 1, reason="one CPU: nothing can raise the thread count")
def test_start_state_undoes_a_thread_count_raised_by_numba() -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", PERTURB], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    before, raised, after = map(int, out.stdout.split())
    assert before == 1 and raised > 1, "numba no longer raises torch's thread count here: update the docs"
    assert after == 1
