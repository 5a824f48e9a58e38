"""``stbench validate DIR``: check a results folder before it joins the leaderboard.

Every problem is one line naming the file it is about; an empty list means the folder passes.
Checks, per result: it is a valid result (the definition ``report`` and ``status`` share,
:mod:`stbench.results.validity`); the results schema; the provenance fields; the cohort is a
named cohort and the result's split sha256 equals its frozen ``splits/<cohort>.json``; the fold's
slides are that file's slides (test slides exactly, less slides a prepared cohort dropped by QC);
the panel sha256 equals the prepared cohort's (when it is prepared here), else every result of
the cohort agrees on it; every metric is present and in its range; ``model.oracle`` is a boolean,
the same on every fold, and equal to the installed model's flag; ``per_slide`` has exactly the
test slides with their spot counts adding up to ``n_test_spots``, and each clustering metric is
the mean of its per-slide values; the metrics definition and clustering parameters are current.
Per (cohort, model entry, seed): every fold of the split is present; a result sits where the
layout puts it (:func:`stbench.results.document.cell_path`: its model, ``--set`` encoder, fold
and seed). The predictions folder a result names
(``predictions-<sha256[:16]>``) must hold files with that hash.

Recomputation: where predictions are kept and the cohort is prepared under the data root, every
number scoring wrote is recomputed from them (:func:`stbench.results.rescore.rescore_document`,
Leiden reclustered with the result's seed and the current clustering parameters): ``metrics``,
``per_slide`` (every slide, every key), ``excluded`` and ``n_test_spots``. Metrics are computed
from the stored float16 values (:data:`stbench.results.checks.STORED_DTYPE`), so an untouched
result recomputes to the same numbers; each must agree within :data:`NOISE_REL` (relative, or
:data:`NOISE_ABS` absolute near zero), floating-point noise, 10^7 times below a real difference
between models (0.01). A cohort that is not prepared here is not recomputed: every other check
still runs, ``on_note`` (the command line: a ``stbench: note:`` on stderr) names the cohort and
the ``stbench data prepare`` command to run, and the folder can still pass; the leaderboard's
maintainers validate with every cohort prepared. ``--no-recompute`` skips recomputation.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path

from stbench.results import document as results
from stbench.errors import StbenchError
from stbench.results.sections import SOURCES
from stbench.results.validity import metric_range, range_problems, result_problems

__all__ = ["NOISE_ABS", "NOISE_REL", "metric_range", "range_problems", "results_root", "validate"]

NOISE_REL = 1e-9
"""Relative difference allowed between a stored number and its recomputation: float64 rounding
(the NumPy and torch metric engines agree to ~1e-15), nothing a real edit could hide in."""
NOISE_ABS = 1e-12
"""Absolute difference allowed near zero, where a relative one means nothing."""


def results_root(folder: Path) -> Path:
    """``folder``, or ``folder/results`` when the results live there (as in ``leaderboard/``)."""
    folder = Path(folder)
    if not results.result_paths(folder) and (folder / "results").is_dir():
        return folder / "results"
    return folder


def validate(
    folder: Path, *, root: Path | None = None, recompute: bool = True, on_note: Callable[[str], object] | None = None
) -> list[str]:
    """Every problem of the results under ``folder``, one sentence each (``[]``: it passes).

    Metrics are recomputed against cohorts prepared under the data root only (nothing is
    prepared here); ``on_note`` is called once per cohort that is not, with the command to run.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise StbenchError(f"Results folder {folder} does not exist.")
    base = results_root(folder)
    found, problems = results.scan_results(base)
    if not found and not problems:
        raise StbenchError(f"No results under {folder} (expected <cohort>/<model>/fold<k>.json files).")
    checker = _Checker(root, on_note)
    for item in found:
        problems += checker.check(item)
    problems += checker.cross_checks(found)
    if recompute:
        for item in found:
            problems += checker.recompute(item)
    return problems


class _Checker:
    def __init__(self, root: Path | None, on_note: Callable[[str], object] | None = None):
        self.root = root
        self.on_note = on_note
        self._noted: set[str] = set()
        self._splits: dict[str, object] = {}
        self._prepared: dict[str, object] = {}
        self._oracles: dict[str, bool | None] = {}

    # --- per result -----------------------------------------------------------------

    def check(self, item: results.ResultFile) -> list[str]:
        doc, where = item.document, str(item.path)
        problems = [f"{where}: {problem}" for problem in results.ResultDocument.problems(doc)]
        problems += result_problems(item)  # what report and status call valid
        if problems:
            return problems
        expected = item.canonical_path
        if Path(where).parts[-2:] != expected.parts[-2:]:
            problems.append(f"{where}: its model name, encoder, fold or seed does not match its path "
                            f"(it belongs at <cohort>/{expected.parent.name}/{expected.name}).")
        if doc["model"]["source"] not in SOURCES:
            problems.append(f"{where}: model.source is {doc['model']['source']!r}, not one of {', '.join(SOURCES)}.")
        problems += self._check_oracle(item)
        problems += self._check_split(item)
        problems += self._check_metrics(item)
        from stbench.metrics import METRICS_VERSION

        if int(doc.get("metrics_version") or 0) != METRICS_VERSION:
            problems.append(
                f"{where}: scored under metrics definition {doc.get('metrics_version')} (current {METRICS_VERSION}); "
                f"update it with `{results.rescore_command(Path(where).parents[2])}`."
            )
        return problems

    def _check_oracle(self, item: results.ResultFile) -> list[str]:
        where, model = str(item.path), item.document["model"]
        if not isinstance(model["oracle"], bool):
            return [f"{where}: model.oracle must be true or false, not {model['oracle']!r}."]
        if model["source"] != "harness":
            return []
        installed = self._installed_oracle(item.model)
        if installed is not None and installed != model["oracle"]:
            return [f"{where}: model.oracle is {model['oracle']} but the installed model {item.model!r} declares {installed}."]
        return []

    def _installed_oracle(self, name: str) -> bool | None:
        if name not in self._oracles:
            from stbench.registry import available, get_predictor_class

            try:
                self._oracles[name] = bool(get_predictor_class(name).oracle) if name in available() else None
            except (StbenchError, ImportError):
                self._oracles[name] = None  # not importable here (e.g. no torch): cannot compare
        return self._oracles[name]

    def split_of(self, cohort: str):
        if cohort not in self._splits:
            from stbench.protocol.cohorts import COHORTS
            from stbench.protocol.splits import load_split

            try:
                self._splits[cohort] = load_split(cohort) if cohort in COHORTS else None
            except StbenchError as exc:
                self._splits[cohort] = exc
        return self._splits[cohort]

    def prepared_manifest(self, cohort: str) -> dict | None:
        """The manifest of the prepared cohort under the data root, when there is one."""
        if cohort not in self._prepared:
            from stbench.paths import prepared_dir

            try:
                self._prepared[cohort] = json.loads((prepared_dir(cohort, self.root) / "manifest.json").read_text())
            except (OSError, json.JSONDecodeError):
                self._prepared[cohort] = None
        return self._prepared[cohort]

    def _check_split(self, item: results.ResultFile) -> list[str]:
        where, section = str(item.path), item.document["cohort"]
        split = self.split_of(item.cohort)
        if split is None:
            return [f"{where}: cohort {item.cohort!r} is not a named cohort with a frozen split; the leaderboard takes named cohorts only."]
        if isinstance(split, StbenchError):
            return [f"{where}: {split}"]
        problems = []
        if split.qc_derived:  # STImage: folds dealt from the QC-passed slides at preparation
            split, problems = self._qc_split(item, split)
            if split is None:
                return problems
        elif section["split_sha256"] != split.sha256:
            problems.append(
                f"{where}: split_sha256 {str(section['split_sha256'])[:12]}… is not the frozen split's {split.sha256[:12]}… "
                f"(made on folds since regenerated: outdated); recompute it with `{results.rerun_command([item])}`."
            )
        if not 0 <= item.fold < len(split.folds):
            return problems + [f"{where}: fold {item.fold} does not exist (the split has {len(split.folds)})."]
        part = split.fold(item.fold)
        manifest = self.prepared_manifest(item.cohort)
        dropped = set((manifest or {}).get("dropped_slides", {}))
        for name in ("train", "val", "test"):
            given = section[f"{name}_slides"]
            frozen = list(getattr(part, name))
            if not set(given) <= set(frozen):
                extra = sorted(set(given) - set(frozen))
                problems.append(f"{where}: {name} slide {extra[0]} is not a {name} slide of fold {item.fold}.")
            elif name == "test" and (gone := sorted(set(frozen) - set(given) - dropped)):
                # without the prepared manifest only STImage cohorts may have dropped slides (pixel-radius QC)
                if manifest is not None or section.get("source") != "stimage":
                    problems.append(f"{where}: test slide {gone[0]} of fold {item.fold} was not scored.")
        if manifest is not None and section["panel_sha256"] != manifest.get("panel_sha256"):
            problems.append(f"{where}: panel_sha256 is not that of the prepared cohort {item.cohort}.")
        return problems

    def _qc_split(self, item: results.ResultFile, candidates) -> tuple[object | None, list[str]]:
        """The QC-derived split a result of a candidates-only cohort must have been made on.

        With the cohort prepared here, it is the prepared ``split.json`` (checked against the
        candidates and the manifest) and its sha256 must equal the result's. Without it, the
        folds are dealt again from the result's own slides (train + val + test are exactly the
        QC-passed slides), which checks every slide list; the sha256 also covers the QC drop
        reasons, so it is only compared where the cohort is prepared.
        """
        from types import SimpleNamespace

        from stbench.paths import prepared_dir
        from stbench.protocol.splits import make_folds, verify_qc_split

        where, section = str(item.path), item.document["cohort"]
        if self.prepared_manifest(item.cohort) is not None:
            try:
                derived = verify_qc_split(candidates, prepared_dir(item.cohort, self.root))
            except StbenchError as exc:
                return None, [f"{where}: {exc}"]
            problems = []
            if section["split_sha256"] != derived.sha256:
                problems.append(
                    f"{where}: split_sha256 {str(section['split_sha256'])[:12]}… is not that of the prepared "
                    f"QC-derived split {derived.sha256[:12]}… (outdated); recompute it with `{results.rerun_command([item])}`."
                )
            return derived, problems
        passed = [*section["train_slides"], *section["val_slides"], *section["test_slides"]]
        outside = sorted(set(passed) - set(candidates.groups))
        if outside:
            return None, [f"{where}: slide {outside[0]} is not a candidate of splits/{item.cohort}.json."]
        groups = {s: candidates.groups[s] for s in sorted(passed)}
        try:
            dealt = make_folds(groups, int(candidates.document["seed"]), cohort=item.cohort)
        except StbenchError as exc:
            return None, [f"{where}: {exc}"]
        folds = [SimpleNamespace(**f) for f in dealt]
        return SimpleNamespace(folds=folds, fold=lambda k: folds[k]), []

    def _check_metrics(self, item: results.ResultFile) -> list[str]:
        from stbench.metrics import METRICS
        from stbench.metrics.clustering import LEADERBOARD_KEYS

        doc, where = item.document, str(item.path)
        problems = [f"{where}: lacks the metric {m!r}." for m in METRICS if m not in doc["metrics"]]
        per_slide = doc["per_slide"]
        test = list(doc["cohort"]["test_slides"])
        if set(per_slide) != set(test):
            odd = sorted(set(per_slide) ^ set(test))
            problems.append(f"{where}: per_slide and the test slides differ (e.g. {odd[0]}).")
        total = 0
        for slide, values in per_slide.items():
            if not isinstance(values.get("n_spots"), int):
                problems.append(f"{where}: per_slide[{slide!r}] lacks its spot count.")
                continue
            total += values["n_spots"]
        if total != doc["n_test_spots"]:
            problems.append(f"{where}: per-slide spot counts add up to {total}, not n_test_spots = {doc['n_test_spots']}.")
        for key in LEADERBOARD_KEYS:  # pooled as the mean over slides (stbench.results.scoring)
            values = [_number(v.get(key)) for v in per_slide.values()]
            if key in doc["metrics"] and values and not any(math.isnan(v) for v in values):
                mean = math.fsum(values) / len(values)
                if not _same(_number(doc["metrics"][key]), mean):
                    problems.append(f"{where}: {key} is {_number(doc['metrics'][key]):.6g} but the mean of its "
                                    f"per-slide values is {mean:.6g}.")
        return problems

    # --- across results -------------------------------------------------------------

    def cross_checks(self, found: list[results.ResultFile]) -> list[str]:
        problems = []
        by_cell: dict[tuple[str, str], list[results.ResultFile]] = defaultdict(list)
        for item in found:
            by_cell[(item.cohort, item.entry)].append(item)
        for (cohort, entry), items in sorted(by_cell.items()):
            split = self.split_of(cohort)
            if split is not None and not isinstance(split, StbenchError):
                n_folds = int(split.document.get("n_folds", 5)) if split.qc_derived else len(split.folds)
                for seed in sorted({i.seed for i in items}):  # every seed run covers every fold
                    missing = sorted(set(range(n_folds)) - {i.fold for i in items if i.seed == seed})
                    if missing:
                        which = "" if seed == 0 else f" of seed {seed}"
                        problems.append(f"{cohort}/{entry}: fold(s) {', '.join(map(str, missing))}{which} are missing.")
            if len({_get(i.document, "model", "oracle") for i in items}) > 1:
                problems.append(f"{cohort}/{entry}: model.oracle differs between folds.")
        by_cohort: dict[str, set] = defaultdict(set)
        for item in found:
            by_cohort[item.cohort].add(_get(item.document, "cohort", "panel_sha256"))
        for cohort, shas in sorted(by_cohort.items()):
            if len(shas) > 1:
                problems.append(f"{cohort}: results disagree on the panel ({len(shas)} different panel_sha256 values).")
        return problems

    # --- recomputing ----------------------------------------------------------------

    def recompute(self, item: results.ResultFile) -> list[str]:
        """Recompute every number scoring wrote from the result's predictions, and compare (when it
        kept any and its cohort is prepared here; see the module docstring)."""
        from stbench.metrics import CLUSTERING_DEFAULTS
        from stbench.results.rescore import find_cohort, prediction_folder, rescore_document

        doc, where = item.document, str(item.path)
        if results.ResultDocument.problems(doc) or result_problems(item):
            return []  # not a result whose numbers can be compared; :meth:`check` said why
        try:
            folder = prediction_folder(item.path, doc) if isinstance(doc.get("predictions"), str) else None
        except StbenchError as exc:
            return [f"{where}: {str(exc)[0].lower()}{str(exc)[1:]}"]
        if folder is None:
            return []
        if not folder.is_dir():
            return [f"{where}: names predictions in {folder}, which is not there."]
        from stbench.results.predictions import DIRNAME, folder_sha256

        if folder.name.startswith(f"{DIRNAME}-") and folder_sha256(folder)[:16] != folder.name[len(DIRNAME) + 1:]:
            return [f"{where}: the files in {folder.name} are not those the result was computed from (their sha256 differs)."]
        if self.prepared_manifest(item.cohort) is None:  # nothing to recompute against
            if self.on_note is not None and item.cohort not in self._noted:
                self._noted.add(item.cohort)
                self.on_note(f"the metrics of cohort {item.cohort} were not recomputed: it is not prepared here; "
                             f"run `stbench data prepare --cohort {item.cohort}` to recompute them.")
            return []
        if doc.get("clustering_params") != CLUSTERING_DEFAULTS:
            return [f"{where}: its clustering parameters are not the current ones; "
                    f"update it with `{results.rescore_command(Path(where).parents[2])}`."]
        try:
            cohort = find_cohort(item.cohort, self.root)
            fresh, _ = rescore_document(item.path, doc, cohort)
        except (StbenchError, KeyError) as exc:
            return [f"{where}: its predictions cannot be rescored ({str(exc).rstrip('.')})."]
        problems = _differences(where, "", doc["metrics"], fresh["metrics"])
        for slide, values in fresh["per_slide"].items():
            problems += _differences(where, f"slide {slide}: ", doc["per_slide"].get(slide, {}), values)
        problems += _differences(where, "excluded ", doc.get("excluded") or {}, fresh["excluded"])
        if doc["n_test_spots"] != fresh["n_test_spots"]:
            problems.append(f"{where}: n_test_spots is {doc['n_test_spots']} but its predictions cover {fresh['n_test_spots']}.")
        return problems


def _number(value: object) -> float:
    """A stored metric value as a float (null, which JSON writers may give for NaN, as NaN)."""
    return math.nan if value is None else float(value)


def _same(stored: float, fresh: float) -> bool:
    """Equal up to floating-point noise (:data:`NOISE_REL`, :data:`NOISE_ABS`), NaN equal to NaN."""
    if math.isnan(stored) or math.isnan(fresh):
        return math.isnan(stored) and math.isnan(fresh)
    return math.isclose(stored, fresh, rel_tol=NOISE_REL, abs_tol=NOISE_ABS)


def _differences(where: str, label: str, stored: Mapping, fresh: Mapping) -> list[str]:
    """One sentence per number of ``stored`` that its recomputation ``fresh`` does not give."""
    problems = []
    for key in sorted(set(stored) | set(fresh)):
        if key not in fresh:
            problems.append(f"{where}: {label}{key} is not a number its predictions give.")
        elif key not in stored:
            problems.append(f"{where}: {label}lacks {key}, which its predictions give.")
        elif isinstance(stored[key], (int, float, type(None))) and not _same(_number(stored[key]), float(fresh[key])):
            # repr: both numbers in full, so a difference in the 7th digit shows (a non-number is a range problem)
            problems.append(f"{where}: {label}{key} is {_number(stored[key])!r} but its predictions score {float(fresh[key])!r}.")
    return problems


def _get(doc: Mapping, section: str, key: str):
    part = doc.get(section)
    return part.get(key) if isinstance(part, Mapping) else None
