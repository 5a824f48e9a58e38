"""``stbench score``: score predictions made outside stbench, exactly as ``stbench run`` does.

Input: a folder with one file per test slide of the fold, ``<slide>.h5ad`` or ``<slide>.npz``,
holding ``X`` (spots x genes, float, log1p predictions), ``obs_names`` (spot barcodes) and
``var_names`` (gene names) - the keys of :mod:`stbench.results.predictions`. Spots and genes may come in
any order; they are put in the cohort's order (barcodes of the prepared slide, panel order).
Every problem (a missing or extra slide, missing, extra or repeated barcodes or genes, a shape
that does not match the names, NaN or infinite values, a non-float dtype) is one sentence, and
all of them are reported together before anything is scored.

Output: the same result JSON as ``stbench run`` (built by :func:`stbench.results.document.build_document`,
scored by :func:`stbench.results.scoring.score_slides`) with ``model.source = "predictions"``, and the
predictions kept beside it (float16 ``.npz`` with their cluster labels, as ``run`` keeps them), so ``stbench rescore`` and
``stbench validate`` can recompute the metrics later. The metrics are computed from the
predictions rounded to float16, the values kept, so recomputing them gives the same numbers.
"""

from __future__ import annotations

import math
import re
import resource
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stbench.results import document as results
from stbench.data.spots import Slide
from stbench.errors import StbenchError
from stbench.data.folds import FoldData, load_fold
from stbench.results.checks import checked_matrix, names_problem
from stbench.untrusted import load_npz
from stbench.results.predictions import (
    DIRNAME, SlidePredictions, array_limits, commit_result, read_slide_predictions, stage, write_slide_predictions,
)
from stbench.results.scoring import score_slides

SUFFIXES = (".h5ad", ".npz")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Submitted:
    """One slide's predictions as read from a file, before any check."""

    X: object
    obs_names: np.ndarray
    var_names: np.ndarray


def read_submitted(path: Path, shape: tuple[int, int] | None = None) -> Submitted:
    """Read ``X``, ``obs_names`` and ``var_names`` from a ``.h5ad`` or ``.npz`` file.

    ``shape`` (spots, genes) is the test slide's: an ``.npz`` array larger than such a slide can
    need (:func:`~stbench.results.predictions.array_limits`) is refused from its header, before
    it is loaded; so is an ``.h5ad`` whose ``X`` has more elements.
    """
    path = Path(path)
    try:
        if path.suffix == ".h5ad":
            return _read_h5ad(path, shape)
        data = load_npz(path, {k: v for k, v in array_limits(shape).items() if k in ("X", "obs_names", "var_names")})
        return Submitted(data["X"], np.asarray(data["obs_names"], dtype=str), np.asarray(data["var_names"], dtype=str))
    except StbenchError:
        raise
    except ValueError as exc:
        raise StbenchError(f"{path.name} is not a readable {path.suffix} file ({exc}).") from exc
    except Exception as exc:  # any reader failure is the file's problem, said in one sentence
        raise StbenchError(f"{path.name} is not a readable {path.suffix} file ({type(exc).__name__}: {exc}).") from exc


def _read_h5ad(path: Path, shape: tuple[int, int] | None) -> Submitted:
    """An ``.h5ad``'s predictions, after checking the size its ``X`` declares (dense or sparse)."""
    import anndata
    import h5py

    limit = array_limits(shape)["X"]
    with h5py.File(path, "r") as f:
        node = f.get("X")
        if node is None:
            raise StbenchError(f"{path.name} has no X.")
        declared = tuple(int(v) for v in (node.shape if isinstance(node, h5py.Dataset) else node.attrs.get("shape", ())))
        if math.prod(declared) * 8 > limit:
            raise StbenchError(f"{path.name}: X declares shape {declared}, more than a test slide of shape {shape} can need.")
    adata = anndata.read_h5ad(path)
    x = adata.X
    if hasattr(x, "toarray"):
        x = x.toarray()
    return Submitted(np.asarray(x), np.asarray(adata.obs_names, dtype=str), np.asarray(adata.var_names, dtype=str))


def find_files(folder: Path, test: list[str]) -> tuple[dict[str, Path], list[str]]:
    """Each test slide's prediction file in ``folder``, and the problems (missing, extra, doubled)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise StbenchError(f"Predictions folder {folder} does not exist.")
    by_slide: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix in SUFFIXES and path.is_file():
            by_slide.setdefault(path.stem, []).append(path)
    problems = []
    for slide in test:
        if slide not in by_slide:
            problems.append(f"No predictions for test slide {slide} (expected {slide}.h5ad or {slide}.npz).")
        elif len(by_slide[slide]) > 1:
            problems.append(f"Test slide {slide} has both {slide}.h5ad and {slide}.npz; keep one.")
    for extra in sorted(set(by_slide) - set(test)):
        problems.append(f"{by_slide[extra][0].name} is not a test slide of this fold; remove it.")
    return {s: by_slide[s][0] for s in test if len(by_slide.get(s, ())) == 1}, problems


def check_submitted(item: Submitted, slide: Slide, genes: tuple[str, ...], where: str) -> tuple[np.ndarray | None, list[str]]:
    """The prediction in cohort order (slide.n_spots x len(genes)), rounded to the stored dtype
    (float32 holding float16 values, :func:`~stbench.results.checks.checked_matrix`), or the problems."""
    x, problems = checked_matrix(item.X, (len(item.obs_names), len(item.var_names)))
    problems = [f"{where}: X has {p}." for p in problems]
    if problems and not (isinstance(item.X, np.ndarray) and item.X.ndim == 2):
        return None, problems
    barcodes = np.asarray(slide.barcodes, dtype=str)
    for problem in (
        names_problem("barcode", item.obs_names, barcodes),
        names_problem("gene", item.var_names, np.asarray(genes, dtype=str)),
    ):
        if problem:
            problems.append(f"{where}: {problem}.")
    if problems:
        return None, problems
    rows = _order(item.obs_names, barcodes)
    cols = _order(item.var_names, np.asarray(genes, dtype=str))
    return np.ascontiguousarray(x[np.ix_(rows, cols)]), []


def _shape(slide: Slide, genes: tuple[str, ...]) -> tuple[int, int]:
    return slide.n_spots, len(genes)


def _order(given: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Positions in ``given`` of each of ``wanted`` (both hold the same unique names)."""
    position = {name: i for i, name in enumerate(given.tolist())}
    return np.array([position[name] for name in wanted.tolist()], dtype=np.int64)


def check_folder(folder: Path, fold: FoldData) -> dict[str, Path]:
    """Check every file before scoring; raises one sentence per problem (all problems at once)."""
    files, problems = find_files(folder, fold.test)
    by_id = {s.id: s for s in fold.cohort.slides}
    for slide_id, path in files.items():
        _, found = check_submitted(read_submitted(path, _shape(by_id[slide_id], fold.cohort.genes)), by_id[slide_id], fold.cohort.genes, path.name)
        problems += found
    if problems:
        raise StbenchError("\n".join(problems))
    return files


def score_folder(
    cohort: str,
    fold: int,
    folder: Path,
    name: str,
    *,
    results_dir: Path = Path("results"),
    oracle: bool = False,
    seed: int = 0,
    split_seed: int = 0,
    root: Path | None = None,
    model_version: str | None = None,
) -> Path:
    """Check and score the predictions in ``folder`` for one fold; returns the result's path.

    The result lands at ``<results_dir>/<cohort>/<name>/fold<fold>.json`` (an existing one is
    replaced), the predictions at ``.../fold<fold>/predictions-<hash>/<slide>.npz`` (the folder the result names).
    """
    if not _NAME.match(name):
        raise StbenchError(f"Model name {name!r} must be letters, digits, '.', '_' or '-' (starting with a letter or digit).")
    from stbench.registry import available

    if name in available():
        raise StbenchError(
            f"{name!r} is the name of an installed model; give external predictions their own name with --name."
        )
    t0 = time.perf_counter()
    data = load_fold(cohort, fold, root=root, results_dir=results_dir, split_seed=split_seed)
    prepare_s = time.perf_counter() - t0
    files = check_folder(Path(folder), data)
    by_id = {s.id: s for s in data.cohort.slides}
    genes = np.asarray(data.cohort.genes)
    path = results.result_path(results_dir, data.cohort.name, name, fold, seed)
    keep = stage(path.with_suffix(""))  # an existing result keeps its predictions until the new pair is complete
    try:
        return _score_into(path, keep, data, files, genes, name, fold, seed, oracle, model_version, prepare_s)
    finally:
        if keep.exists():
            shutil.rmtree(keep)


def _score_into(
    path: Path, keep: Path, data: FoldData, files: dict[str, Path], genes: np.ndarray, name: str, fold: int, seed: int,
    oracle: bool, model_version: str | None, prepare_s: float,
) -> Path:
    """Score the checked ``files``, keeping the predictions in the staging folder ``keep``, and
    commit the result at ``path`` with them (:func:`~stbench.results.predictions.commit_result`)."""
    by_id = {s.id: s for s in data.cohort.slides}

    def pairs() -> Iterator[tuple[Slide, np.ndarray]]:
        for slide_id in data.test:
            slide = by_id[slide_id]
            pred, _ = check_submitted(read_submitted(files[slide_id], _shape(slide, data.cohort.genes)), slide, data.cohort.genes, files[slide_id].name)
            write_slide_predictions(keep, SlidePredictions(slide_id, pred, slide.barcodes, genes))
            yield slide, pred

    scores = score_slides(len(genes), pairs(), seed=seed)
    for slide_id, (truth, pred) in scores.labels.items():  # the cluster labels, as a cell keeps them
        kept = read_slide_predictions(keep, slide_id)
        write_slide_predictions(keep, SlidePredictions(slide_id, kept.X, kept.obs_names, kept.var_names, truth, pred))
    doc = results.build_document(
        model={
            "name": name, "distribution": None, "version": model_version, "distribution_version": None,
            "oracle": bool(oracle), "profile": "external", "config": {}, "source": "predictions",
        },
        cohort=results.cohort_section(data.cohort, data.split, data.split_file, data.train, data.val, data.test),
        fold=fold,
        seed=seed,
        scores=scores,
        predictions=DIRNAME,
        training=None,
        timings={"prepare": prepare_s, "fit": None, "predict": None, "metrics": scores.seconds},
        device="cpu",
    )
    # no model ran here: the peak memory is the scoring process's own (as a cell records its own)
    doc["resources"] = {
        "peak_host_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_gpu_mb": None,
        "host_measure": "ru_maxrss",
    }
    commit_result(path, doc, keep)
    return path
