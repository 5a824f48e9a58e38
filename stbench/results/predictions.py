"""Test-slide predictions on disk: the pivot of the reporting side.

A cell keeps its predictions at ``<results>/<cohort>/<model>/fold<k>/predictions/<slide>.npz``,
one file per test slide, written atomically. ``numpy.load`` reads them; the keys follow
anndata's names so the arrays drop straight into an ``AnnData``:

* ``X``: float16 (spots x genes), predicted expression in log1p space, rows in ``obs_names``
  order and columns in ``var_names`` order;
* ``obs_names``: (spots,) str, spot barcodes;
* ``var_names``: (genes,) str, the cohort's panel genes in panel order;
* ``clusters_true`` / ``clusters_pred`` (optional): (spots,) int32 Leiden labels of the true and
  the predicted expression of this slide (first clustering seed), for spatial cluster maps.

float16 keeps about three significant digits (a relative error under 5e-4 on log1p values up to
~10), far below the differences between models; metrics recomputed from these files are within
1e-3 of those computed from the float32 predictions.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stbench.errors import StbenchError

DIRNAME = "predictions"


def predictions_dir(artefacts: Path) -> Path:
    """The folder of a cell's saved predictions, inside its artefact folder."""
    return Path(artefacts) / DIRNAME


@dataclass(frozen=True)
class SlidePredictions:
    """One test slide's saved predictions (see the module docstring for the fields)."""

    slide: str
    X: np.ndarray
    obs_names: np.ndarray
    var_names: np.ndarray
    clusters_true: np.ndarray | None = None
    clusters_pred: np.ndarray | None = None


def prediction_path(folder: Path, slide: str) -> Path:
    return Path(folder) / f"{slide}.npz"


def write_slide_predictions(folder: Path, item: SlidePredictions) -> Path:
    """Write one slide's predictions atomically; returns the file's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "X": np.asarray(item.X, dtype=np.float16),
        "obs_names": np.asarray(item.obs_names, dtype=str),
        "var_names": np.asarray(item.var_names, dtype=str),
    }
    for key in ("clusters_true", "clusters_pred"):
        value = getattr(item, key)
        if value is not None:
            arrays[key] = np.asarray(value, dtype=np.int32)
    path = prediction_path(folder, item.slide)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_slide_predictions(folder: Path, slide: str) -> SlidePredictions:
    """Read one slide's saved predictions; a missing or unreadable file is one sentence."""
    path = prediction_path(folder, slide)
    try:
        with np.load(path, allow_pickle=False) as data:
            return SlidePredictions(
                slide=slide,
                X=data["X"],
                obs_names=data["obs_names"],
                var_names=data["var_names"],
                clusters_true=data["clusters_true"] if "clusters_true" in data else None,
                clusters_pred=data["clusters_pred"] if "clusters_pred" in data else None,
            )
    except FileNotFoundError as exc:
        raise StbenchError(f"No saved predictions for slide {slide!r} at {path}.") from exc
    except (OSError, ValueError, KeyError) as exc:
        raise StbenchError(f"Saved predictions at {path} are unreadable ({exc}).") from exc
