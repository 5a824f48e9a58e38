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
from stbench.paths import file_mode
from stbench.untrusted import MAX_MEMBER_BYTES, MAX_STRING_CHARS, load_npz

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
    os.fchmod(fd, file_mode(path))  # honour the umask (mkstemp gives 0o600); a rewrite keeps the mode
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def array_limits(shape: tuple[int, int] | None) -> dict[str, int]:
    """The most bytes each array of one slide's predictions may hold, for ``shape`` (spots, genes):
    ``X`` up to float64, names up to :data:`~stbench.untrusted.MAX_STRING_CHARS` characters each,
    cluster labels up to int64; without a shape, :data:`~stbench.untrusted.MAX_MEMBER_BYTES` each."""
    if shape is None:
        return dict.fromkeys(("X", "obs_names", "var_names", "clusters_true", "clusters_pred"), MAX_MEMBER_BYTES)
    n, g = (int(v) for v in shape)
    names = 4 * MAX_STRING_CHARS
    return {"X": n * g * 8, "obs_names": n * names, "var_names": g * names, "clusters_true": n * 8, "clusters_pred": n * 8}


def read_slide_predictions(folder: Path, slide: str, shape: tuple[int, int] | None = None) -> SlidePredictions:
    """Read one slide's saved predictions, each array bounded by ``shape`` (spots, genes) before it
    is loaded (:func:`array_limits`); a missing, unreadable or oversized file is one sentence."""
    path = prediction_path(folder, slide)
    try:
        data = load_npz(path, array_limits(shape), optional=("clusters_true", "clusters_pred"))
    except FileNotFoundError as exc:
        raise StbenchError(f"No saved predictions for slide {slide!r} at {path}.") from exc
    except StbenchError as exc:
        raise StbenchError(f"Saved predictions at {path} are unreadable ({str(exc).rstrip('.')}).") from exc
    return SlidePredictions(
        slide=slide,
        X=data["X"],
        obs_names=data["obs_names"],
        var_names=data["var_names"],
        clusters_true=data.get("clusters_true"),
        clusters_pred=data.get("clusters_pred"),
    )
