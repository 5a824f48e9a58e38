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


CARD = """\
name = "Mean expression (exported training slides)"
authors = ["A. Author", "B. Author"]
paper = "https://doi.org/10.5281/zenodo.0000000"
code = "https://github.com/example/mean-ext"
license = "MIT"
encoder = "none"
parameters = 937
training_data = "the fold's training slides only"
oracle = false
contact = "someone@example.org"

[compute]
gpu = "none (CPU)"
hours = 0.01
"""


def mean_submission(tmp_path_factory, name: str = "mean-ext") -> Path:
    """A leaderboard submission ``<tmp>/submissions/<name>`` made as docs/submitting.md says: per
    demo fold, the mean of the training slides' log1p expression predicted for every test spot,
    scored with ``stbench score``, assembled with ``stbench submit``; read-only (copy to tamper)."""
    key = f"submission:{name}"
    if key not in _RUNS:
        import numpy as np

        from stbench.data.folds import load_fold

        base = tmp_path_factory.mktemp("submission")
        assert main(["data", "prepare", "--cohort", "demo"]) == 0
        for k in range(5):
            fold = load_fold("demo", k)
            mean = np.concatenate([s.expression() for s in fold.cohort.slides if s.id in fold.train]).mean(axis=0)
            preds = base / "predictions" / f"fold{k}"
            preds.mkdir(parents=True)
            for s in fold.cohort.slides:
                if s.id in fold.test:
                    np.savez(preds / f"{s.id}.npz", X=np.tile(mean.astype(np.float32), (s.n_spots, 1)),
                             obs_names=np.asarray(s.barcodes), var_names=np.asarray(fold.cohort.genes))
            assert main(["score", "--cohort", "demo", "--fold", str(k), "--predictions", str(preds),
                         "--name", name, "--results", str(base / "results")]) == 0
        (base / "results" / "demo" / name / "fold0" / "log.txt").write_text("not for the leaderboard\n")
        (base / "card.toml").write_text(CARD)
        out = base / "submissions" / name
        assert main(["submit", "--results", str(base / "results"), "--card", str(base / "card.toml"), "--out", str(out)]) == 0
        _RUNS[key] = out
    return _RUNS[key]
