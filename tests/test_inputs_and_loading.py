"""Every ``stbench run`` input is checked before any data work, and loading never prepares."""

from __future__ import annotations

from pathlib import Path

import pytest

from stbench.cli import main
from stbench.data.prepared import load_cohort
from stbench.errors import CohortNotPreparedError, StbenchError
from stbench.grid.executors import slurm

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def empty_place(tmp_path, monkeypatch):
    """A working folder and an empty (absent) data root; returns (cwd, data root)."""
    cwd, data = tmp_path / "work", tmp_path / "data"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("STBENCH_DATA", str(data))
    return cwd, data


def _fails_cleanly(argv, capsys, empty_place) -> str:
    """Run ``stbench ARGV``; check it fails with one sentence and wrote nothing; return it."""
    cwd, data = empty_place
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("stbench: error: ") and len(err.splitlines()) == 1
    assert list(cwd.iterdir()) == [], "a failed run left files (a results folder?)"
    assert not data.exists(), "a failed run touched the data root"
    return err


def test_unknown_profile_fails_before_any_data_work(capsys, empty_place):
    err = _fails_cleanly(["run", "--model", "mean", "--cohort", "demo", "--profile", "papr"], capsys, empty_place)
    assert "no profile 'papr'" in err and "paper" in err


def test_fold_outside_the_split_fails_before_any_data_work(capsys, empty_place):
    err = _fails_cleanly(["run", "--model", "mean", "--cohort", "demo", "--folds", "0,7", "--profile", "small"],
                         capsys, empty_place)
    assert "--folds 7" in err


def test_bad_setting_fails_before_any_data_work(capsys, empty_place):
    err = _fails_cleanly(["run", "--model", "mean", "--cohort", "demo", "--profile", "small", "--set", "no_such_key=1"],
                         capsys, empty_place)
    assert "no_such_key" in err


def test_slurm_with_a_bad_input_submits_nothing(capsys, empty_place, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a job array was submitted")

    monkeypatch.setattr(slurm, "submit", refuse)
    err = _fails_cleanly(["run", "--model", "mean", "--cohort", "demo", "--profile", "papr", "--executor", "slurm"],
                         capsys, empty_place)
    assert "papr" in err


def test_slurm_options_are_typed(tmp_path, capsys, empty_place):
    config = tmp_path / "slurm.toml"
    config.write_text('mem_gb = "lots"\n')
    err = _fails_cleanly(["run", "--model", "mean", "--cohort", "demo", "--executor", "slurm",
                          "--executor-config", str(config)], capsys, empty_place)
    assert "--slurm-mem-gb takes a number" in err
    with pytest.raises(StbenchError, match="--slurm-time-min must be at least 1"):
        slurm.SlurmOptions(time_min=0)


def test_load_cohort_never_prepares(tmp_path):
    root = tmp_path / "root"
    with pytest.raises(CohortNotPreparedError, match=r"`stbench data prepare --cohort demo --root "):
        load_cohort("demo", root)
    assert not root.exists()


@pytest.mark.parametrize("argv", [
    ["export", "--cohort", "demo", "--fold", "0", "--out", "exported"],
    ["score", "--cohort", "demo", "--fold", "0", "--predictions", ".", "--name", "m"],
])
def test_reading_commands_name_the_prepare_command(argv, capsys, empty_place):
    err = _fails_cleanly(argv, capsys, empty_place)
    assert "run `stbench data prepare --cohort demo` first" in err


def test_validate_says_what_to_prepare_and_prepares_nothing(capsys, empty_place):
    _, data = empty_place
    assert main(["validate", str(ROOT / "leaderboard")]) == 0
    err = capsys.readouterr().err
    assert "run `stbench data prepare --cohort demo` to recompute them" in err
    assert not data.exists()


@pytest.mark.slow
def test_report_with_an_empty_data_root_writes_every_table(tmp_path, capsys, empty_place):
    _, data = empty_place
    out = tmp_path / "report" / "board.md"
    assert main(["report", "--results", str(ROOT / "leaderboard" / "results"), "--out", str(out)]) == 0
    assert not data.exists()
    err = capsys.readouterr().err
    assert "spatial_demo_genes" in err and "stbench data prepare --cohort demo" in err
    committed = {p.name for p in (ROOT / "leaderboard" / "exports").glob("*.csv")}
    written = {p.name for p in (out.parent / "exports").glob("*.csv")}
    assert {"per_slide.csv", "significance.csv"} <= written <= committed
    assert "| " in out.read_text()  # the markdown tables
