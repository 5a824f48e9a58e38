"""Test-slide predictions on disk: the pivot of the reporting side.

A cell keeps its predictions at ``<cell>/predictions-<hash>/<slide>.npz`` (``<cell>``:
:func:`stbench.results.document.cell_path`, e.g. ``<results>/<cohort>/<model>/fold<k>``),
one file per test slide, written atomically. ``numpy.load`` reads them; the keys follow
anndata's names so the arrays drop straight into an ``AnnData``:

* ``X``: float16 (spots x genes), predicted expression in log1p space, rows in ``obs_names``
  order and columns in ``var_names`` order;
* ``obs_names``: (spots,) str, spot barcodes;
* ``var_names``: (genes,) str, the cohort's panel genes in panel order;
* ``clusters_true`` / ``clusters_pred`` (optional): (spots,) int32 Leiden labels of the true and
  the predicted expression of this slide (first clustering seed), for spatial cluster maps.

A result and its predictions change together (:func:`stage` then :func:`commit_result`): new
predictions are written to a staging folder, which is renamed ``predictions-<sha256[:16]>``
(the hash of its files, :func:`folder_sha256`) once complete; the result document, which names
that folder in its ``predictions`` field, then replaces the old one atomically, and only then are
the folders no document names removed. An interruption at any point leaves either the old
document with its old folder or the new document with its new folder (at worst an unnamed
folder, removed by the next write; a staging folder left by a kill is removed by a write
an hour later). Results written before this name the folder ``predictions``.

Metrics are computed from exactly these float16 values (``run`` and ``score`` round a prediction
to float16 before they check and score it, :data:`stbench.results.checks.STORED_DTYPE`), so
``stbench rescore`` and ``stbench validate`` recompute the same numbers from them, bit for bit.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stbench.errors import StbenchError
from stbench.paths import file_mode, umask
from stbench.results.checks import STORED_DTYPE
from stbench.untrusted import MAX_MEMBER_BYTES, MAX_STRING_CHARS, load_npz

DIRNAME = "predictions"
STALE_STAGING_S = 3600.0
"""A staging folder untouched this long (seconds) was left by a killed writer and is removed by
the next commit of the same result; a younger one may belong to a writer still running."""


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


def write_slide_predictions(folder: Path, item: SlidePredictions, mode: int | None = None) -> Path:
    """Write one slide's predictions atomically; returns the file's path. ``mode``: the file's
    permission bits (default: an existing file's, else 0o666 less the umask)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "X": np.asarray(item.X, dtype=STORED_DTYPE),  # exact: the values were rounded to it when checked
        "obs_names": np.asarray(item.obs_names, dtype=str),
        "var_names": np.asarray(item.var_names, dtype=str),
    }
    for key in ("clusters_true", "clusters_pred"):
        value = getattr(item, key)
        if value is not None:
            arrays[key] = np.asarray(value, dtype=np.int32)
    path = prediction_path(folder, item.slide)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, file_mode(path) if mode is None else mode)  # honour the umask (mkstemp gives 0o600); a rewrite keeps the mode
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


def folder_sha256(folder: Path) -> str:
    """sha256 over the ``.npz`` files of a predictions folder (names and bytes, in name order)."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).glob("*.npz")):
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def stage(artefacts: Path) -> Path:
    """A new, empty staging folder for predictions inside ``artefacts`` (the cell's ``fold<k>/``)."""
    artefacts = Path(artefacts)
    artefacts.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=artefacts, prefix=f".{DIRNAME}-", suffix=".tmp"))
    folder.chmod(0o777 & ~umask())  # mkdtemp gives 0o700, collaborators must be able to read it
    return folder


def commit_result(path: Path, document: dict, staged: Path | None) -> None:
    """Put the result ``document`` at ``path`` with the predictions ``staged`` (or none) in one step.

    See the module docstring: the staged folder becomes ``predictions-<hash>``, the document
    names it and is written atomically last, and the prediction folders it no longer names are
    removed afterwards. ``document["predictions"]`` is set here.
    """
    from stbench.results.document import write_json_atomic

    artefacts = Path(path).with_suffix("")
    if staged is not None:
        name = f"{DIRNAME}-{folder_sha256(staged)[:16]}"
        final = artefacts / name
        if final.is_dir():  # the same predictions are already in place
            shutil.rmtree(staged)
        else:
            os.rename(staged, final)
        document["predictions"] = name
    else:
        name = None
        document["predictions"] = None
    write_json_atomic(Path(path), document)
    for old in artefacts.glob(f"{DIRNAME}*"):
        if old.is_dir() and old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    for old in artefacts.glob(f".{DIRNAME}-*.tmp"):  # staging left by a killed writer
        try:
            stale = time.time() - old.stat().st_mtime > STALE_STAGING_S
        except FileNotFoundError:
            continue
        if stale:
            shutil.rmtree(old, ignore_errors=True)
