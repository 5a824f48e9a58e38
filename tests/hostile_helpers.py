"""Shared by the hostile-input tests that need a scored result: one `stbench score` of demo fold 0."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from stbench.cli import main

_SCORED: dict[str, Path] = {}


def write_predictions(folder: Path, fold, *, value: float | None = None, dtype=np.float32) -> Path:
    """One ``<slide>.npz`` per test slide of ``fold``: random log1p values (or ``value`` at [0, 0])."""
    folder.mkdir(parents=True, exist_ok=True)
    by_id = {s.id: s for s in fold.cohort.slides}
    rng = np.random.default_rng(0)
    for sid in fold.test:
        slide = by_id[sid]
        x = rng.normal(1.0, 0.5, (slide.n_spots, len(fold.cohort.genes))).astype(dtype)
        if value is not None:
            x[0, 0] = value
        np.savez(folder / f"{sid}.npz", X=x, obs_names=np.asarray(slide.barcodes, dtype=str),
                 var_names=np.asarray(fold.cohort.genes, dtype=str))
    return folder


def scored_results(tmp_path_factory) -> Path:
    """A results folder with ``demo/ext/fold0.json`` and its kept predictions; copy it before editing."""
    if "ext" not in _SCORED:
        from stbench.data.folds import load_fold
        from stbench.data.prepare import prepare_and_load

        prepare_and_load("demo")
        base = tmp_path_factory.mktemp("hostile-scored")
        preds = write_predictions(base / "preds", load_fold("demo", 0))
        assert main(["score", "--cohort", "demo", "--fold", "0", "--predictions", str(preds), "--name", "ext",
                     "--results", str(base / "results")]) == 0
        _SCORED["ext"] = base / "results"
    return _SCORED["ext"]


def copy_results(tmp_path: Path, tmp_path_factory) -> Path:
    """A private copy of :func:`scored_results`."""
    dest = tmp_path / "results"
    shutil.copytree(scored_results(tmp_path_factory), dest)
    return dest


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (to check that nothing changed)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def kept_folder(results: Path, model: str = "ext") -> Path:
    """The predictions folder the result ``demo/<model>/fold0.json`` names."""
    import json

    doc = results / "demo" / model / "fold0.json"
    return doc.with_suffix("") / json.loads(doc.read_text())["predictions"]
