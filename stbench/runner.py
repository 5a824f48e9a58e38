"""Run (model, cohort, fold) cells: fit, predict slide by slide, score, write one JSON each.

``run()`` is what ``stbench run`` calls. Each cell is independent: a failing cell is reported
and the others still run. A valid existing result made on the same split, panel, profile and
seed is skipped unless ``overwrite`` is set.
"""

from __future__ import annotations

import shutil
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stbench import registry, results
from stbench.cohorts import expand_cohort_names, get_cohort
from stbench.data.prepare import PreparedCohort, load_cohort
from stbench.data.spots import SpotData
from stbench.errors import StbenchError
from stbench.predictions import DIRNAME, SlidePredictions, predictions_dir, write_slide_predictions
from stbench.predictor import Predictor
from stbench.progress import RichHook, console, make_progress
from stbench.scoring import Scores, check_prediction, score_slides
from stbench.splits import (
    QC_SPLIT_FILE,
    Split,
    build_split_document,
    check_slides,
    load_split,
    read_split,
    verify_qc_split,
    write_split,
)


@dataclass(frozen=True)
class RunConfig:
    """Everything ``stbench run`` was asked to do."""

    models: tuple[str, ...]
    cohorts: tuple[str, ...]
    folds: tuple[int, ...] | None = None
    results: Path = Path("results")
    profile: str = "auto"
    device: str = "auto"
    seed: int = 0
    overwrite: bool = False
    root: Path | None = None
    save_predictions: bool = True


@dataclass
class CellOutcome:
    cohort: str
    model: str
    fold: int  # -1: every fold of a cohort that could not be loaded
    status: str  # "done", "skipped" or "failed"
    seconds: float = 0.0
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict)


def resolve_models(spec: str) -> tuple[str, ...]:
    """``all`` or a comma list of registered names (unknown names get 'did you mean')."""
    names = list(registry.available()) if spec == "all" else [s.strip() for s in spec.split(",") if s.strip()]
    for name in names:
        registry.plugin_info(name)
    if not names:
        raise StbenchError("No model given; use --model NAME[,NAME] or --model all.")
    return tuple(names)


def resolve_cohorts(spec: str) -> tuple[str, ...]:
    """A comma list of cohort names or directory paths; ``all`` = the six paper cohorts,
    ``extended`` = the extended cohorts (see :mod:`stbench.cohorts`)."""
    out = expand_cohort_names(spec)
    for item in out:
        if not Path(item).expanduser().is_dir():
            get_cohort(item)  # raises with 'did you mean' unless it is a known name
    return tuple(out)


def resolve_device(device: str) -> str:
    if device not in ("auto", "cpu", "cuda"):
        raise StbenchError(f"Unknown device {device!r}; use auto, cpu or cuda.")
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise StbenchError("--device cuda was asked for but torch sees no CUDA GPU on this machine.")
    return device


def resolve_profile(profile: str, device: str) -> str:
    """``auto`` is the paper profile on a GPU and the small profile on a CPU."""
    if profile == "auto":
        return "paper" if device == "cuda" else "small"
    return profile


def cohort_split(cohort: str, prepared: PreparedCohort, results_dir: Path, seed: int) -> tuple[Split, str]:
    """The frozen split of a named cohort, or a seeded split saved beside a directory's results.

    A named cohort whose committed file holds candidates only (STImage: folds dealt after QC)
    gets the split its preparation dealt from the QC-passed slides, checked against the
    candidates and the manifest. Returns the split and where it came from (recorded in results).
    """
    slide_ids = [s.id for s in prepared.slides]
    if not Path(cohort).expanduser().is_dir():
        split = load_split(cohort)
        if split.qc_derived:
            derived = verify_qc_split(split, prepared.path)
            return derived, f"prepared/{prepared.name}/{QC_SPLIT_FILE} (QC-passed slides of splits/{cohort}.json)"
        check_slides(split, slide_ids, prepared.dropped_slides)
        return split, f"splits/{cohort}.json"
    path = results_dir / prepared.name / "split.json"
    meta = prepared.slide_metadata()
    groups = {sid: (meta[sid].get("patient") or sid) for sid in slide_ids}
    if len(set(groups.values())) < 3:
        raise StbenchError(
            f"Cohort directory {cohort} has slides from {len(set(groups.values()))} patient(s); "
            "a train/val/test split needs at least 3."
        )
    if path.exists():
        existing = read_split(path)
        if sorted(existing.slides) == sorted(slide_ids) and existing.document.get("seed") == seed:
            return existing, str(path)
    doc = build_split_document(prepared.name, f"all slides of directory {Path(cohort).resolve()}", groups, seed=seed)
    write_split(path, doc)
    return read_split(path), str(path)


def evaluate(model: Predictor, test: SpotData, seed: int, save_to: Path | None) -> tuple[Scores, float]:
    """Predict the test slides one at a time, score them, and save the predictions to ``save_to``
    (a folder, see :mod:`stbench.predictions`; ``None`` keeps nothing).

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


def run_cell(
    model_name: str, cohort: PreparedCohort, split: Split, split_origin: str, fold: int, cfg: RunConfig,
    device: str, profile: str, hook: RichHook | None, prepare_seconds: float,
) -> dict:
    """Fit and score one cell; returns the result document (not yet written)."""
    info = registry.plugin_info(model_name)
    cls = registry.get_predictor_class(model_name)
    held = {s.id for s in cohort.slides}
    part = split.fold(fold)
    train, val, test = (cohort.spotdata([s for s in ids if s in held]) for ids in (part.train, part.val, part.test))
    if not train.slides or not test.slides:
        raise StbenchError(f"Fold {fold} of cohort {cohort.name!r} has no usable train or test slide after QC.")
    workdir = results.artefact_dir(cfg.results, cohort.name, model_name, fold)
    if cfg.overwrite and workdir.exists():  # no checkpoint of an earlier run may be resumed
        shutil.rmtree(workdir)
    model = cls(profile=profile, seed=cfg.seed, device=device, workdir=workdir)
    model.progress = hook
    t0 = time.perf_counter()
    fitted = model.fit(train, val if val.slides else None)
    if fitted is not model:
        raise StbenchError(f"Model {model_name!r} broke the Predictor contract: fit did not return self.")
    fit_s = time.perf_counter() - t0
    keep = predictions_dir(workdir) if cfg.save_predictions else None
    scores, pred_s = evaluate(model, test, cfg.seed, keep)
    return results.build_document(
        model={
            "name": model_name, "distribution": info.distribution, "version": cls.version,
            "distribution_version": info.distribution_version, "oracle": cls.oracle,
            "profile": profile, "config": model.get_config(), "source": "harness",
        },
        cohort=results.cohort_section(
            cohort, split, split_origin, slide_ids(train), slide_ids(val), slide_ids(test)
        ),
        fold=fold,
        seed=cfg.seed,
        scores=scores,
        predictions=str(Path(DIRNAME)) if keep is not None else None,
        training=model.fit_report,
        timings={"prepare": prepare_seconds, "fit": fit_s, "predict": pred_s, "metrics": scores.seconds},
        device=device,
    )


def slide_ids(data: SpotData) -> list[str]:
    return [s.id for s in data.slides]


def run(cfg: RunConfig) -> list[CellOutcome]:
    """Run every requested cell; returns one outcome per cell (see :class:`CellOutcome`)."""
    device = resolve_device(cfg.device)
    profile = resolve_profile(cfg.profile, device)
    console.print(
        f"device [bold]{device}[/], profile [bold]{profile}[/], seed {cfg.seed}, results in {cfg.results}",
        soft_wrap=True,
    )
    outcomes: list[CellOutcome] = []
    with make_progress() as progress:
        hook = RichHook(progress)
        for cohort_name in cfg.cohorts:
            t0 = time.perf_counter()
            try:
                cohort = load_cohort(cohort_name, cfg.root, progress=hook)
                split, origin = cohort_split(cohort_name, cohort, cfg.results, cfg.seed)
            except StbenchError as exc:
                if len(cfg.cohorts) == 1:
                    raise
                # with several cohorts, one whose data is missing must not stop the others
                console.print(f"[red]skipped cohort[/] {cohort_name}: {exc}", soft_wrap=True)
                outcomes += [CellOutcome(cohort_name, m, -1, "failed", message=str(exc)) for m in cfg.models]
                continue
            prepare_s = time.perf_counter() - t0
            folds = cfg.folds if cfg.folds is not None else tuple(range(len(split.folds)))
            for k in folds:
                split.fold(k)
            cells = [(m, k) for m in cfg.models for k in folds]
            task = progress.add_task(f"{cohort.name}", total=len(cells))
            for model_name, fold in cells:
                outcomes.append(
                    _run_one(model_name, cohort, split, origin, fold, cfg, device, profile, hook, prepare_s)
                )
                progress.advance(task)
    for line in results.stale_notice(cfg.results):
        console.print(f"[yellow]{line}[/]", soft_wrap=True)
    return outcomes


def _run_one(model_name, cohort, split, origin, fold, cfg, device, profile, hook, prepare_s) -> CellOutcome:
    path = results.result_path(cfg.results, cohort.name, model_name, fold)
    existing = results.read_result(path)
    if not cfg.overwrite and results.is_current(
        existing, split_sha256=split.sha256, panel_sha256=cohort.panel_sha256, profile=profile, seed=cfg.seed
    ):
        return CellOutcome(cohort.name, model_name, fold, "skipped", metrics=existing["metrics"])
    t0 = time.perf_counter()
    try:
        doc = run_cell(model_name, cohort, split, origin, fold, cfg, device, profile, hook, prepare_s)
    except StbenchError as exc:
        message = str(exc)
    except Exception as exc:  # a plugin's crash fails its cell, not the run
        message = f"{type(exc).__name__}: {exc}"
        console.print(f"[red]{cohort.name}/{model_name}/fold{fold} crashed:[/]\n{traceback.format_exc()}")
    else:
        results.write_json_atomic(path, doc)
        return CellOutcome(cohort.name, model_name, fold, "done", time.perf_counter() - t0, metrics=doc["metrics"])
    console.print(f"[red]failed[/] {cohort.name}/{model_name}/fold{fold}: {message}", soft_wrap=True)
    return CellOutcome(cohort.name, model_name, fold, "failed", time.perf_counter() - t0, message)


def parse_folds(spec: str | None) -> tuple[int, ...] | None:
    """``"0,1,3"`` -> (0, 1, 3); ``None`` -> all folds."""
    if spec is None:
        return None
    try:
        folds = tuple(int(x) for x in spec.split(",") if x.strip())
    except ValueError as exc:
        raise StbenchError(f"--folds takes comma-separated integers such as 0,1,2, not {spec!r}.") from exc
    if not folds:
        raise StbenchError("--folds is empty; give fold numbers such as 0,1,2.")
    return folds


def summarise(outcomes: Sequence[CellOutcome]) -> None:
    """Print the end-of-run table (stdout): one row per cell with its key metrics."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="stbench run")
    for col in ("cohort", "model", "fold", "status", "pearson", "pearson_gene", "l1", "seconds"):
        table.add_column(col, justify="right" if col not in ("cohort", "model", "status") else "left")
    colour = {"done": "green", "skipped": "cyan", "failed": "red"}
    for o in outcomes:
        m = o.metrics
        fmt = lambda k: f"{m[k]:.3f}" if k in m and m[k] == m[k] else "—"  # noqa: E731
        table.add_row(
            o.cohort, o.model, str(o.fold) if o.fold >= 0 else "all", f"[{colour[o.status]}]{o.status}[/]",
            fmt("pearson"), fmt("pearson_gene"), fmt("l1"), f"{o.seconds:.1f}",
        )
    Console().print(table)
