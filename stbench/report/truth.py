"""Saved predictions joined with the prepared cohort's truth and coordinates, for drill-downs.

A cohort is found as ``stbench rescore`` finds it (:func:`stbench.results.rescore.find_cohort`):
a named cohort by its name, a directory cohort (``stbench run --cohort PATH``, recorded as
``local-<hash>``) as the prepared folder of that name under the data root; the name is a plain
name (checked when the result is read), so the folder read stays inside ``<data root>/prepared``.
A cohort whose data is not prepared here, or a cell without saved predictions, is skipped with
a note (the report still renders its tables).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stbench.errors import StbenchError
from stbench.results.predictions import DIRNAME, SlidePredictions, read_slide_predictions
from stbench.results.rescore import find_cohort, prediction_folder
from stbench.results.document import ResultFile, result_path


@dataclass(frozen=True)
class SlidePair:
    """One test slide of one cell: truth and prediction on the same spots and genes.

    Attributes:
        slide: slide id.
        fold: the fold that tested it.
        truth: float32 (spots x genes), log1p, rows in ``pred.obs_names`` order.
        pred: the saved predictions (``X`` float16 spots x genes, log1p).
        coords: float32 (spots x 2), spot centres (x, y) in full-resolution pixels.
        genes: (genes,) str, panel genes.
    """

    slide: str
    fold: int
    truth: np.ndarray
    pred: SlidePredictions
    coords: np.ndarray
    genes: np.ndarray


class TruthSource:
    """Loads each cohort once (:func:`~stbench.results.rescore.find_cohort`) and remembers failures."""

    def __init__(self, results_dir: Path, root: Path | None = None) -> None:
        self.results_dir = Path(results_dir)
        self.root = root
        self._cohorts: dict[str, object] = {}
        self.notes: list[str] = []

    def cohort(self, name: str):
        if name not in self._cohorts:
            try:
                self._cohorts[name] = find_cohort(name, self.root)
            except StbenchError as exc:
                self._cohorts[name] = None
                self.notes.append(f"{name}: no truth for the spatial maps and per-gene exports ({exc})")
        return self._cohorts[name]

    def pairs(self, result: ResultFile, slides: list[str] | None = None) -> Iterator[SlidePair]:
        """The cell's test slides (or ``slides``) that have saved predictions, with truth."""
        try:
            path = result.path or result_path(self.results_dir, result.cohort, result.entry, result.fold, result.seed)
            doc = result.document  # a document without the field predates it: the folder was predictions/
            folder = prediction_folder(path, doc if "predictions" in doc else {**doc, "predictions": DIRNAME})
        except StbenchError as exc:
            self.notes.append(f"{result.cohort}/{result.entry} fold {result.fold} seed {result.seed}: skipped, {exc}")
            return
        if folder is None:
            return
        wanted = slides if slides is not None else list(result.document.get("cohort", {}).get("test_slides") or [])
        present = [s for s in wanted if (folder / f"{s}.npz").is_file()]
        if not present:
            return
        prepared = self.cohort(result.cohort)
        if prepared is None:
            return
        by_id = {s.id: s for s in prepared.slides}
        for slide_id in present:
            slide = by_id.get(slide_id)
            if slide is None:
                continue
            try:
                pred = read_slide_predictions(folder, slide_id, (slide.n_spots, len(prepared.genes)))
            except StbenchError as exc:
                self.notes.append(f"{result.cohort}/{result.entry} fold {result.fold} seed {result.seed} {slide_id}: skipped, {exc}")
                continue
            row = {b: i for i, b in enumerate(np.asarray(slide.barcodes).astype(str))}
            idx = np.array([row.get(b, -1) for b in pred.obs_names.astype(str)])
            if (idx < 0).any() or list(pred.var_names.astype(str)) != list(prepared.genes):
                self.notes.append(f"{result.cohort}/{result.entry} fold {result.fold} seed {result.seed} {slide_id}: saved predictions "
                                  "do not match the prepared cohort's spots or genes; skipped")
                continue
            yield SlidePair(
                slide_id, result.fold, np.asarray(slide.expression())[idx], pred,
                np.asarray(slide.coords)[idx], pred.var_names.astype(str),
            )
