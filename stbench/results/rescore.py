"""``stbench rescore``: recompute every metric of saved results from their saved predictions.

For each result under a results folder (older results schemas included), the predictions kept
beside it (``fold<k>/<predictions field>/<slide>.npz``, see :mod:`stbench.results.predictions`) are scored
against the prepared cohort with :func:`stbench.results.scoring.score_slides` - the function
``stbench run`` uses - and the result is rewritten atomically with the new ``metrics``,
``per_slide``, ``excluded``, ``n_test_spots``, ``clustering_params``, ``metrics_version`` and
``schema_version``; the model is not retrained and nothing else changes. A result without saved
predictions, or whose cohort is not prepared here or has another panel, is reported and left.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stbench.results import document as results
from stbench.data.prepared import PreparedCohort
from stbench.data.spots import Slide
from stbench.errors import CohortNotPreparedError, StbenchError
from stbench.results.checks import matrix_problems
from stbench.results.provenance import now
from stbench.results.predictions import (
    SlidePredictions, commit_result, read_slide_predictions, stage, write_slide_predictions,
)
from stbench.results.scoring import Scores, score_slides
from stbench.untrusted import inside


@dataclass(frozen=True)
class Outcome:
    """What happened to one result file: ``"rescored"`` or ``"left"`` (with the reason)."""

    path: Path
    status: str
    message: str = ""


def find_cohort(name: str, root: Path | None) -> PreparedCohort:
    """The prepared cohort a result names, read from the data root (never prepared here).

    Raises:
        CohortNotPreparedError: it is not prepared; the message says what to run.
    """
    from stbench.data.prepared import load_cohort, load_prepared
    from stbench.paths import data_root, prepared_dir
    from stbench.protocol.cohorts import COHORTS

    if name in COHORTS:
        return load_cohort(name, root)
    path = prepared_dir(name, root)
    if not path.is_dir():
        raise CohortNotPreparedError(
            f"Cohort {name} is not prepared under {data_root(root)}; run `stbench data prepare --cohort DIRECTORY` "
            "on the directory it was made from first."
        )
    return load_prepared(path)


def prediction_folder(path: Path, doc: dict) -> Path | None:
    """The predictions folder of the result at ``path`` (``None`` when it kept none); a field that
    leads outside the result's own folder ``fold<k>/`` is one sentence."""
    rel = doc.get("predictions")
    if not rel:
        return None
    return inside(path.with_suffix(""), rel, f"predictions field of {path}")


def rescore_document(path: Path, doc: dict, cohort: PreparedCohort, *, device: str | None = None) -> tuple[dict, Scores]:
    """The result ``doc`` (at ``path``) with every metric recomputed from its saved predictions."""
    from stbench.metrics import CLUSTERING_DEFAULTS, METRICS_VERSION

    folder = prediction_folder(path, doc)
    if folder is None or not folder.is_dir():
        raise StbenchError("it has no saved predictions (made with --no-save-predictions or before they were kept)")
    if doc["cohort"].get("panel_sha256") != cohort.panel_sha256:
        raise StbenchError(f"the prepared cohort {cohort.name} has another gene panel than the one it was scored on")
    by_id = {s.id: s for s in cohort.slides}
    test = list(doc["cohort"]["test_slides"])
    gone = [s for s in test if s not in by_id]
    if gone:
        raise StbenchError(f"its test slide {gone[0]} is not in the prepared cohort {cohort.name}")
    saved = {s: read_slide_predictions(folder, s, (by_id[s].n_spots, len(cohort.genes))) for s in test}
    for slide_id, item in saved.items():
        check_saved(item, by_id[slide_id], cohort.genes)

    def pairs() -> Iterator[tuple[Slide, np.ndarray]]:
        for slide_id in test:
            yield by_id[slide_id], saved[slide_id].X  # float16, scored as kept

    scores = score_slides(len(cohort.genes), pairs(), seed=int(doc.get("seed", 0)), device=device)
    new = dict(doc)
    new.update(
        schema_version=results.SCHEMA_VERSION,
        metrics_version=METRICS_VERSION,
        metrics=scores.metrics,
        excluded=scores.excluded,
        clustering_params=dict(CLUSTERING_DEFAULTS),
        per_slide=scores.per_slide,
        n_test_spots=scores.n_test_spots,
        rescored_at=now(),
    )
    new["model"] = {"source": "harness", **doc["model"]}
    new["timings"] = {**(doc.get("timings") or {}), "metrics": scores.seconds}
    return new, scores


def check_saved(item: SlidePredictions, slide: Slide, genes: tuple[str, ...]) -> None:
    """Saved predictions must be on the slide's spots and the panel, in order."""
    if not np.array_equal(np.asarray(item.obs_names, dtype=str), np.asarray(slide.barcodes, dtype=str)):
        raise StbenchError(f"the saved predictions of slide {slide.id} are not on the prepared slide's spots")
    if not np.array_equal(np.asarray(item.var_names, dtype=str), np.asarray(genes, dtype=str)):
        raise StbenchError(f"the saved predictions of slide {slide.id} are not on the cohort's panel")
    problems = matrix_problems(item.X, (slide.n_spots, len(genes)))
    if problems:
        raise StbenchError(f"the saved predictions of slide {slide.id} have {problems[0]}")


def rescore(
    results_dir: Path,
    *,
    cohorts: set[str] | None = None,
    models: set[str] | None = None,
    root: Path | None = None,
    device: str | None = None,
) -> list[Outcome]:
    """Rescore every result under ``results_dir`` (optionally only these cohorts / models)."""
    paths = results.result_paths(results_dir)
    if not paths:
        raise StbenchError(f"No results under {results_dir} (expected <cohort>/<model>/fold<k>.json files).")
    outcomes: list[Outcome] = []
    loaded: dict[str, PreparedCohort | StbenchError] = {}
    for path in paths:
        item, problem = results.load_result(path, any_schema=True)
        if item is None:
            outcomes.append(Outcome(path, "left", problem))
            continue
        if (cohorts and item.cohort not in cohorts) or (models and item.model not in models):
            continue
        if item.cohort not in loaded:
            try:
                loaded[item.cohort] = find_cohort(item.cohort, root)
            except StbenchError as exc:
                loaded[item.cohort] = exc
        cohort = loaded[item.cohort]
        if isinstance(cohort, StbenchError):
            outcomes.append(Outcome(path, "left", str(cohort)))
            continue
        t0 = time.perf_counter()
        try:
            doc, scores = rescore_document(path, item.document, cohort, device=device)
        except (StbenchError, KeyError) as exc:
            reason = str(exc) if isinstance(exc, StbenchError) else f"it lacks the field {exc}"
            outcomes.append(Outcome(path, "left", f"{path}: left unchanged, {reason.rstrip('.')}."))
            continue
        _commit_with_labels(path, doc, prediction_folder(path, doc), scores)
        outcomes.append(Outcome(path, "rescored", f"{time.perf_counter() - t0:.1f} s"))
    return outcomes


def _commit_with_labels(path: Path, doc: dict, folder: Path | None, scores: Scores) -> None:
    """Write the rescored ``doc``; when the scoring produced new cluster labels, its predictions
    are copied with them into a new folder and committed with it (:func:`commit_result`), so the
    old pair stays whole until the new one is; every file keeps its permission bits."""
    doc = results.ResultDocument.from_dict(doc).to_dict()  # the class's field order, as a cell writes it
    if folder is None or not scores.labels:
        results.write_json_atomic(path, doc)
        return
    staged = stage(path.with_suffix(""))
    try:
        staged.chmod(folder.stat().st_mode & 0o7777)
        for old in sorted(folder.glob("*.npz")):
            item = read_slide_predictions(folder, old.stem)
            truth, pred = scores.labels.get(old.stem, (item.clusters_true, item.clusters_pred))
            write_slide_predictions(staged, SlidePredictions(old.stem, item.X, item.obs_names, item.var_names, truth, pred),
                                    mode=old.stat().st_mode & 0o7777)
        commit_result(path, doc, staged)
    finally:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
