"""One cell of the grid (a model on one fold of one cohort), described by a :class:`CellSpec`.

:func:`run` is the same function in-process, in a local worker process
(``python -m stbench.grid.worker``) and on a SLURM node: it loads the prepared cohort and its
split, skips a current result, claims the cell (:mod:`stbench.grid.claims`), fits, predicts and
scores, and writes the result JSON atomically. It logs to
``<cell>/log.txt`` (``<cell>`` is :func:`stbench.results.document.cell_path`, e.g.
``<results>/<cohort>/<model>/fold<k>``) and records the peak host and GPU memory of the process
beside the timings. A failure leaves ``<cell>.failed`` (message and log path).
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import socket
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from stbench import registry
from stbench.results import document as results
from stbench.data.folds import cohort_split
from stbench.data.prepared import PreparedCohort, load_cohort
from stbench.data.spots import SpotData
from stbench.errors import StbenchError
from stbench.grid import claims
from stbench.grid.spec import LOG_NAME, CellOutcome, CellSpec  # noqa: F401  (re-exported)
from stbench.results.predictions import DIRNAME, SlidePredictions, commit_result, stage, write_slide_predictions
from stbench.predictor import Predictor
from stbench.progress import RichHook, console
from stbench.results.scoring import Scores, check_prediction, score_slides
from stbench.protocol.splits import Split



class CellLog:
    """Appends timestamped lines to the cell's ``log.txt`` (and echoes them to the console)."""

    def __init__(self, path: Path, echo: bool) -> None:
        self.path = path
        self.echo = echo
        path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(self.path, "a") as fh:
            fh.write(f"[{stamp}] {message}\n")
        if self.echo:
            console.print(message, soft_wrap=True, markup=False, highlight=False)


def evaluate(model: Predictor, test: SpotData, seed: int, save_to: Path | None) -> tuple[Scores, float]:
    """Predict the test slides one at a time, score them, and save the predictions to ``save_to``
    (a folder, see :mod:`stbench.results.predictions`; ``None`` keeps nothing).

    Returns the scores and the seconds spent in ``model.predict``.
    """
    t_pred = 0.0
    kept: dict[str, np.ndarray] = {}

    def pairs():
        nonlocal t_pred
        for slide in model.track(test.slides, "predict slides"):
            given = slide if model.oracle else slide.without_expression()
            t0 = time.perf_counter()
            pred = model.predict(SpotData(test.genes, (given,)))
            t_pred += time.perf_counter() - t0
            pred = check_prediction(pred, slide.n_spots, test.n_genes, f"Model {model.name!r}", slide.id)
            if save_to is not None:
                kept[slide.id] = pred
            yield slide, pred

    scores = score_slides(test.n_genes, pairs(), seed=seed, device="cuda" if model.device == "cuda" else None)
    if save_to is not None:
        for slide in test.slides:
            truth_labels, pred_labels = scores.labels.get(slide.id, (None, None))
            write_slide_predictions(save_to, SlidePredictions(
                slide.id, kept.pop(slide.id), slide.barcodes, np.asarray(test.genes), truth_labels, pred_labels,
            ))
    return scores, t_pred


def start_state(seed: int, threads: int) -> None:
    """Put the process in the same state at the start of every cell, whatever ran before it:
    ``threads`` CPU threads for torch (libraries loaded earlier can change the OpenMP default:
    numba's llvmlite, loaded by scanpy during preparation, raises it to the CPU count), Python's,
    NumPy's and torch's RNGs seeded with ``seed``, and torch's deterministic algorithms (with a
    warning where an operation has none). Torch is optional: the core runs without it."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS (read when CUDA starts)
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def slide_ids(data: SpotData) -> list[str]:
    return [s.id for s in data.slides]


def fit_and_score(
    spec: CellSpec, cohort: PreparedCohort, split: Split, split_origin: str, hook: RichHook | None,
    prepare_seconds: float, keep: Path | None = None,
) -> dict:
    """Fit and score one cell, keeping its predictions in the staging folder ``keep`` (``None``:
    none); returns the result document (not yet written, see :func:`commit_result`)."""
    info = registry.plugin_info(spec.model)
    cls = registry.get_predictor_class(spec.model)
    held = {s.id for s in cohort.slides}
    part = split.fold(spec.fold)
    train, val, test = (cohort.spotdata([s for s in ids if s in held]) for ids in (part.train, part.val, part.test))
    if not train.slides or not test.slides:
        raise StbenchError(f"Fold {spec.fold} of cohort {cohort.name!r} has no usable train or test slide after QC.")
    workdir = spec.workdir()
    start_state(spec.seed, spec.threads)
    model = cls(profile=spec.profile, seed=spec.seed, device=spec.device, workdir=workdir, **spec.settings)
    model.progress = hook
    t0 = time.perf_counter()
    fitted = model.fit(train, val if val.slides else None)
    if fitted is not model:
        raise StbenchError(f"Model {spec.model!r} broke the Predictor contract: fit did not return self.")
    fit_s = time.perf_counter() - t0
    scores, pred_s = evaluate(model, test, spec.seed, keep)
    return results.build_document(
        model={
            "name": spec.model, "distribution": info.distribution, "version": cls.version,
            "distribution_version": info.distribution_version, "oracle": cls.oracle,
            "profile": spec.profile, "settings": dict(spec.settings), "config": model.get_config(),
            "source": "harness",
        },
        cohort=results.cohort_section(
            cohort, split, split_origin, slide_ids(train), slide_ids(val), slide_ids(test)
        ),
        fold=spec.fold,
        seed=spec.seed,
        scores=scores,
        predictions=str(Path(DIRNAME)) if keep is not None else None,
        training=model.fit_report,
        timings={"prepare": prepare_seconds, "fit": fit_s, "predict": pred_s, "metrics": scores.seconds},
        device=spec.device,
        artefacts=cls.artefacts,
        threads=spec.threads,
    )


# --- peak memory -----------------------------------------------------------------------------

def reset_peak_memory(device: str) -> str:
    """Reset the peak counters before a cell; returns how host memory will be measured."""
    if device.startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
    try:  # Linux: writing 5 to clear_refs resets VmHWM (the resident-set high-water mark)
        Path("/proc/self/clear_refs").write_text("5")
        return "VmHWM"
    except OSError:
        return "ru_maxrss"


def peak_memory(device: str, source: str) -> dict[str, Any]:
    """Peak resident host memory (MiB) of this process since :func:`reset_peak_memory`, and peak
    GPU memory allocated by torch (MiB; ``None`` without CUDA)."""
    host_mb = None
    if source == "VmHWM":
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                host_mb = int(line.split()[1]) / 1024
    if host_mb is None:  # kilobytes on Linux; the process's whole-life peak
        host_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        source = "ru_maxrss"
    gpu_mb = None
    if device.startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            gpu_mb = torch.cuda.max_memory_allocated() / 2**20
    return {"peak_host_mb": round(host_mb, 1), "peak_gpu_mb": None if gpu_mb is None else round(gpu_mb, 1),
            "host_measure": source}


# --- the one function every executor calls ----------------------------------------------------

def _load(spec: CellSpec, hook: RichHook | None) -> tuple[PreparedCohort, Split, str, float]:
    t0 = time.perf_counter()
    cohort = load_cohort(spec.cohort, Path(spec.root) if spec.root else None)  # prepared by the launcher
    split, origin = cohort_split(spec.cohort, cohort, Path(spec.results), spec.split_seed)
    return cohort, split, origin, time.perf_counter() - t0


def is_current(spec: CellSpec, cohort: PreparedCohort, split: Split) -> dict | None:
    """The existing result of ``spec`` when it can be kept (same split, panel, profile, seed,
    settings), else ``None``."""
    if spec.overwrite:
        return None
    doc = results.read_result(spec.result_path())
    ok = results.is_current(
        doc, split_sha256=split.sha256, panel_sha256=cohort.panel_sha256, profile=spec.profile,
        seed=spec.seed, settings=spec.settings,
    )
    return doc if ok else None


def run(
    spec: CellSpec, hook: RichHook | None = None, loaded: tuple[PreparedCohort, Split, str, float] | None = None,
    echo: bool = True,
) -> CellOutcome:
    """Compute one cell (see the module docstring); never raises for a failure of the cell itself.

    ``loaded`` is the already prepared (cohort, split, split origin, prepare seconds) when the
    caller has it (in-process runs), so a cohort is not read once per cell.
    """
    t0 = time.perf_counter()
    out = lambda status, message="", metrics=None: CellOutcome.of(  # noqa: E731
        spec, status, time.perf_counter() - t0, message, metrics)
    try:
        cohort, split, origin, prepare_s = loaded if loaded is not None else _load(spec, hook)
    except StbenchError as exc:
        _fail(spec, str(exc), None)
        return out("failed", str(exc))
    existing = is_current(spec, cohort, split)
    if existing is not None:
        spec.queued_path().unlink(missing_ok=True)
        return out("skipped", metrics=existing["metrics"])
    attempt = claims.acquire(spec.claim_path(), spec.stale_after)
    if attempt.claim is None:
        console.print(f"skipped {spec.label}: {attempt.message}", soft_wrap=True, markup=False)
        return out("claimed", attempt.message)
    claim = attempt.claim
    claim.start_heartbeat()
    staged: Path | None = None
    try:
        if spec.overwrite and spec.workdir().exists():  # no checkpoint of an earlier run may be resumed
            _clear_workdir(spec.workdir())
        spec.queued_path().unlink(missing_ok=True)
        log = CellLog(spec.log_path(), echo=False)
        if attempt.message:
            console.print(f"{spec.label}: {attempt.message}", soft_wrap=True, markup=False)
            log(attempt.message)
        existing = is_current(spec, cohort, split)  # finished by someone while we waited for the claim
        if existing is not None:
            return out("skipped", metrics=existing["metrics"])
        ids = claims.slurm_ids()
        job = f" SLURM {claims.job_label(ids)}" if ids["slurm_job_id"] else ""
        log(f"start {spec.label} on {socket.gethostname()} pid {os.getpid()}{job} "
            f"(profile {spec.profile}, device {spec.device}, seed {spec.seed}, {spec.threads} thread(s), "
            f"settings {spec.settings})")
        measure = reset_peak_memory(spec.device)
        staged = stage(spec.workdir()) if spec.save_predictions else None
        try:
            doc = fit_and_score(spec, cohort, split, origin, hook, prepare_s, staged)
        except StbenchError as exc:
            message = str(exc)
            log(f"failed: {message}")
        except Exception as exc:  # a plugin's crash fails its cell, not the run
            message = f"{type(exc).__name__}: {exc}"
            trace = traceback.format_exc()
            log(f"crashed:\n{trace}")
            if echo:
                console.print(f"[red]{spec.label} crashed:[/]\n{trace}")
        else:
            doc["resources"] = peak_memory(spec.device, measure)
            doc["timings"]["total"] = time.perf_counter() - t0
            commit_result(spec.result_path(), doc, staged)
            spec.failed_path().unlink(missing_ok=True)
            log(f"done in {time.perf_counter() - t0:.1f} s; peak host {doc['resources']['peak_host_mb']} MiB, "
                f"peak GPU {doc['resources']['peak_gpu_mb']} MiB")
            return out("done", metrics=doc["metrics"])
        _fail(spec, message, t0)
        if echo:
            console.print(f"[red]failed[/] {spec.label}: {message}", soft_wrap=True)
        return out("failed", message)
    finally:
        if staged is not None and staged.exists():  # a failed cell's predictions are never committed
            shutil.rmtree(staged, ignore_errors=True)
        claim.release()


def _clear_workdir(workdir: Path) -> None:
    """Remove an earlier run's artefacts (checkpoints must not be resumed) but keep the
    predictions the current result names, which a new result replaces only when it is complete."""
    for entry in workdir.iterdir():
        if entry.name.startswith(DIRNAME) and entry.is_dir():
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _fail(spec: CellSpec, message: str, t0: float | None) -> None:
    """Leave ``<cell>.failed`` so ``stbench status`` can show what happened."""
    claims.write_marker(spec.failed_path(), {
        "message": message, "log": str(spec.log_path()), "pid": os.getpid(), **claims.slurm_ids(),
        "seconds": None if t0 is None else time.perf_counter() - t0,
    })
