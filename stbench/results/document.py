"""One results JSON per (cohort, model, fold, seed): what it holds and how it is written.

Layout (:mod:`stbench.results.layout`): ``<results>/<cohort>/<model>[@<encoder>]/fold<k>[-seed<s>].json``,
the cell's artefacts in the folder of the same name.

:class:`ResultDocument` is the one owner of the format (built by :func:`build_document`, checked
by :meth:`ResultDocument.problems`); files are written atomically (a temp file in the same
folder, then ``os.replace``), so a reader never sees half a result. Where result files live,
which schema is read, and scanning a folder: :mod:`stbench.results.reading`, whose names are
also reachable from here (``from stbench.results import document as results`` then
``results.scan_results``), as every caller has used them.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import Field, dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, get_args, get_type_hints

from stbench.paths import file_mode
from stbench.results.layout import (  # noqa: F401  (the layout, re-exported with the document)
    ENCODER_KEY,
    ENTRY_SEPARATOR,
    cell_path,
    cell_stem,
    model_entry,
)
from stbench.results.provenance import environment, git_sha, now
from stbench.results.reading import (  # re-exported: the module's public names before the split
    SCHEMA_VERSION,
    OlderSchemaError,
    ResultDocumentError,
    ResultFile,
    artefact_dir,
    is_current,
    iter_results,
    load_result,
    on_old_split,
    outdated,
    read_result,
    read_result_file,
    rerun_command,
    rescore_command,
    result_path,
    result_paths,
    scan_results,
    stale_notice,
)
from stbench.results.sections import (
    CohortSection,
    EnvironmentSection,
    ModelSection,
    ResourcesSection,
    doc_field,
)

__all__ = [
    "SCHEMA_VERSION", "OlderSchemaError", "ResultDocument", "ResultDocumentError", "ResultFile", "artefact_dir",
    "build_document", "cell_path", "cell_stem", "cohort_section", "model_entry", "is_current", "iter_results", "load_result", "outdated", "read_result",
    "read_result_file", "rerun_command", "rescore_command", "on_old_split", "result_path", "result_paths", "scan_results", "stale_notice",
    "write_json_atomic",
]


def write_json_atomic(path: Path, document: Mapping[str, Any]) -> None:
    """Write JSON to ``path`` atomically (never leaves a partial file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, file_mode(path))  # honour the umask (mkstemp gives 0o600); a rewrite keeps the mode
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(document, fh, indent=1, sort_keys=False, default=_jsonable)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


@dataclass(frozen=True)
class ResultDocument:
    """One results JSON: one (cohort, model, fold, seed) cell, at :func:`stbench.results.layout.result_path`.

    The one owner of the format: :func:`build_document` builds it, :meth:`from_dict` and
    :meth:`load` read it, :meth:`save` writes it, :meth:`problems` checks it, and
    :mod:`stbench.results.schema` derives the JSON Schema and the field reference from it.
    Expression values behind the metrics are log1p(count / spot total * 1e4); times are seconds.
    """

    schema_version: int = doc_field("version of this format (see the module docstring); 2")
    stbench_version: str = doc_field("version of stbench that wrote it")
    git_sha: str | None = doc_field("commit of the stbench source tree (`-dirty` when it had changes); null outside git")
    created_at: str = doc_field("when the cell finished, ISO 8601 UTC, seconds")
    model: ModelSection = doc_field("what made the predictions")
    cohort: CohortSection = doc_field("the data the cell was trained and tested on")
    fold: int = doc_field("fold number, from 0")
    seed: int = doc_field("seed of the model and of the clustering")
    metrics_version: int = doc_field("version of the metric definitions the metrics were computed under")
    metrics: dict[str, float | None] = doc_field(
        "metric key -> value over all test spots (keys and ranges: `stbench.metrics.METRICS`); NaN when undefined")
    excluded: dict[str, int] = doc_field("counts of spots, genes or ranks left out of a metric (constant or tied values)")
    clustering_params: dict[str, Any] = doc_field("parameters of the Leiden clustering behind the clustering metrics")
    per_slide: dict[str, dict[str, float | None]] = doc_field(
        "test slide id -> its `n_spots` and each metric on that slide alone")
    n_test_spots: int = doc_field("spots scored, summed over the test slides")
    predictions: str | None = doc_field(
        "folder of the saved predictions relative to `fold<k>/` (`predictions`); null when none were kept")
    training: dict[str, Any] | None = doc_field(
        "what the model's fit reported (epochs, curves, best epoch); null for models that report nothing")
    timings: dict[str, float | None] = doc_field(
        "seconds: `prepare`, `fit`, `predict`, `metrics`, `total` (null where a step did not run here)")
    environment: EnvironmentSection = doc_field("where the cell ran")
    artefacts: dict[str, str] = doc_field(
        "extra files the model left for the report: label -> glob pattern relative to `fold<k>/` "
        "(`Predictor.artefacts`; absent when it leaves none)", optional=True)
    resources: ResourcesSection | None = doc_field("peak memory of the cell", optional=True)
    rescored_at: str = doc_field("when `stbench rescore` last recomputed the metrics, ISO 8601 UTC", optional=True)

    @classmethod
    def problems(cls, doc: Any) -> list[str]:
        """The missing fields and non-object sections of ``doc``, one sentence each (no path)."""
        if not isinstance(doc, Mapping):
            return [f"not a result document (a JSON {type(doc).__name__}, not an object)."]
        out = [f"lacks the field {f.name!r}." for f in fields(cls) if _required(f) and f.name not in doc]
        for f in fields(cls):
            kind = _section_class(cls, f.name)
            if kind is None or f.name not in doc or (doc[f.name] is None and not _required(f)):
                continue
            part = doc[f.name]
            if not isinstance(part, Mapping):
                out.append(f"{f.name!r} is not an object.")
                continue
            out += [f"lacks the field {f.name}.{g.name}." for g in fields(kind) if _required(g) and g.name not in part]
        return out

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ResultDocument:
        """The typed document; raises :class:`ResultDocumentError` naming the first missing field."""
        problems = cls.problems(doc)
        if problems:
            raise ResultDocumentError(f"The result document {problems[0][0].lower()}{problems[0][1:]}")
        unknown = sorted(set(doc) - {f.name for f in fields(cls)})
        if unknown:
            raise ResultDocumentError(f"The result document has a field {unknown[0]!r} this stbench does not know.")
        values = {}
        for f in fields(cls):
            kind = _section_class(cls, f.name)
            value = doc.get(f.name, _ABSENT)
            if kind is not None and isinstance(value, Mapping):
                extra = sorted(set(value) - {g.name for g in fields(kind)})
                if extra:
                    raise ResultDocumentError(f"The result document has a field {f.name}.{extra[0]} this stbench "
                                              "does not know.")
                value = kind(**{g.name: value.get(g.name, _ABSENT) for g in fields(kind)})
            values[f.name] = value
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object, fields in their order, absent optional fields left out."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is _ABSENT:
                continue
            if is_dataclass(value):
                value = {g.name: getattr(value, g.name) for g in fields(value) if getattr(value, g.name) is not _ABSENT}
            out[f.name] = value
        return out

    @classmethod
    def load(cls, path: Path) -> ResultDocument:
        """Read and check the result at ``path`` (raises :class:`ResultDocumentError`)."""
        item, problem = load_result(path)
        if item is None:
            raise ResultDocumentError(problem)
        return cls.from_dict(item.document)

    def save(self, path: Path) -> None:
        """Write the document to ``path`` atomically."""
        write_json_atomic(path, self.to_dict())


class _Absent:
    """Marks an optional field that a file leaves out (distinct from JSON null)."""

    def __repr__(self) -> str:
        return "<absent>"


_ABSENT: Any = _Absent()


def _required(f: Field) -> bool:
    return not f.metadata.get("optional", False)


def _section_class(cls: type, name: str) -> type | None:
    """The dataclass of field ``name`` of ``cls`` when it is a section (an object with fixed fields)."""
    hint = get_type_hints(cls)[name]
    for candidate in (hint, *get_args(hint)):
        if is_dataclass(candidate):
            return candidate
    return None


def build_document(
    *,
    model: Mapping[str, Any],
    cohort: Mapping[str, Any],
    fold: int,
    seed: int,
    scores: Any,
    predictions: str | None,
    training: Any,
    timings: Mapping[str, float],
    device: str,
    artefacts: Mapping[str, str] | None = None,
    threads: int | None = None,
) -> dict:
    """The result document of one cell (``stbench run`` and ``stbench score`` both build it here),
    as the JSON object of a :class:`ResultDocument` (checked; ``resources`` is added by the caller).

    ``model`` is the model section (name, distribution, version, distribution_version, oracle,
    profile, settings, config, source), ``cohort`` the cohort section (see
    :func:`cohort_section`), ``scores`` a :class:`stbench.results.scoring.Scores`,
    ``predictions`` the predictions folder relative to the cell's artefact folder (``None`` when
    none were kept), ``timings`` seconds, ``artefacts`` the model's extra files
    (:attr:`stbench.predictor.Predictor.artefacts`; recorded only when there are any), ``threads``
    the CPU thread count the cell ran with (``None``: not set by stbench, e.g. ``stbench score``).
    """
    from stbench import __version__
    from stbench.metrics import CLUSTERING_DEFAULTS, METRICS_VERSION

    extra = {"artefacts": dict(artefacts)} if artefacts else {}
    return ResultDocument.from_dict({
        "schema_version": SCHEMA_VERSION,
        "stbench_version": __version__,
        "git_sha": git_sha(),
        "created_at": now(),
        "model": dict(model),
        "cohort": dict(cohort),
        "fold": fold,
        "seed": seed,
        "metrics_version": METRICS_VERSION,
        "metrics": scores.metrics,
        "excluded": scores.excluded,
        "clustering_params": dict(CLUSTERING_DEFAULTS),
        "per_slide": scores.per_slide,
        "n_test_spots": scores.n_test_spots,
        "predictions": predictions,
        "training": training,
        "timings": dict(timings),
        "environment": environment(device, threads),
        **extra,
    }).to_dict()


def cohort_section(cohort: Any, split: Any, split_file: str, train: list[str], val: list[str], test: list[str]) -> dict:
    """The ``cohort`` section of a result from a prepared cohort and its split (slide ids after QC)."""
    return {
        "name": cohort.name, "n_slides": len(cohort.slides), "n_genes": len(cohort.genes),
        "panel_sha256": cohort.panel_sha256, "split_sha256": split.sha256, "split_file": split_file,
        "source": cohort.source, "revision": cohort.revision, "split_seed": split.document.get("seed"),
        "train_slides": list(train), "val_slides": list(val), "test_slides": list(test),
    }
