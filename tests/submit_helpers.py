"""Shared by the score / rescore / validate tests: one `mean` run on every demo fold per session."""

from __future__ import annotations

import shutil
from pathlib import Path

from stbench.cli import main

_RUNS: dict[str, Path] = {}


def mean_results(tmp_path_factory) -> Path:
    """Results of ``stbench run --model mean --cohort demo`` (five folds, predictions kept); read-only."""
    if "mean" not in _RUNS:
        out = tmp_path_factory.mktemp("mean-run") / "results"
        assert main(["run", "--model", "mean", "--cohort", "demo", "--results", str(out)]) == 0
        _RUNS["mean"] = out
    return _RUNS["mean"]


def copy_folds(source: Path, dest: Path, folds: tuple[int, ...]) -> Path:
    """A results folder holding only these folds of ``source`` (files and artefact folders)."""
    for json_path in sorted(source.glob("*/*/fold*.json")):
        fold = int(json_path.stem[4:])
        if fold in folds:
            target = dest / json_path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(json_path, target)
            if json_path.with_suffix("").is_dir():
                shutil.copytree(json_path.with_suffix(""), target.with_suffix(""))
    return dest
