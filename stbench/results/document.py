"""One results JSON per (cohort, model, fold): where it lives, what it holds, how it is written.

Layout: ``<results>/<cohort>/<model>/fold<k>.json``; the model's artefacts (checkpoints,
figures) go to ``<results>/<cohort>/<model>/fold<k>/``. Files are written atomically (a temp
file in the same folder, then ``os.replace``), so a reader never sees half a result.

Schema history: 1 = the first format; 2 adds ``model.source`` (``"harness"`` for a model run by
``stbench run``, ``"predictions"`` for predictions scored by ``stbench score``) and makes
``metrics_version``, ``predictions`` and ``training`` part of every result. A result of another
schema is never loaded silently: :func:`scan_results` names it in one sentence.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import Field, dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, get_args, get_type_hints

from stbench.errors import StbenchError
from stbench.paths import file_mode
from stbench.untrusted import plain_name
from stbench.results.provenance import environment, git_sha, now
from stbench.results.sections import (
    CohortSection,
    EnvironmentSection,
    ModelSection,
    ResourcesSection,
    doc_field,
)

SCHEMA_VERSION = 2


class ResultDocumentError(StbenchError):
    """A result document lacks a field or has one this stbench does not know."""


def result_path(results: Path, cohort: str, model: str, fold: int) -> Path:
    """``<results>/<cohort>/<model>/fold<fold>.json``; cohort and model must be plain names."""
    return Path(results) / plain_name(cohort, "cohort name") / plain_name(model, "model name") / f"fold{int(fold)}.json"


def artefact_dir(results: Path, cohort: str, model: str, fold: int) -> Path:
    """``<results>/<cohort>/<model>/fold<fold>/``; cohort and model must be plain names."""
    return Path(results) / plain_name(cohort, "cohort name") / plain_name(model, "model name") / f"fold{int(fold)}"


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


def read_result(path: Path) -> dict | None:
    """A result document, or ``None`` when the file is missing, unreadable or of another schema."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("schema_version") != SCHEMA_VERSION:
        return None
    return doc


def is_current(
    doc: Mapping | None, *, split_sha256: str, panel_sha256: str, profile: str, seed: int,
    settings: Mapping[str, Any] | None = None,
) -> bool:
    """Whether an existing result was made on this split, panel, profile, seed and ``--set``
    settings (so can be skipped)."""
    if doc is None:
        return False
    cohort, model = doc.get("cohort", {}), doc.get("model", {})
    return (
        cohort.get("split_sha256") == split_sha256
        and cohort.get("panel_sha256") == panel_sha256
        and model.get("profile") == profile
        and doc.get("seed") == seed
        and (model.get("settings") or {}) == dict(settings or {})
        and "metrics" in doc
    )


@dataclass(frozen=True)
class ResultFile:
    cohort: str
    model: str
    fold: int
    document: dict
    path: Path | None = None


def result_paths(results: Path) -> list[Path]:
    """Every ``<cohort>/<model>/fold<k>.json`` under ``results``, sorted."""
    return sorted(Path(results).glob("*/*/fold*.json"))


class OlderSchemaError(ResultDocumentError):
    """A result written under an older results schema; ``stbench rescore`` brings it up to date."""


def read_result_file(path: Path, *, any_schema: bool = False) -> ResultFile:
    """One result file (see :func:`load_result`).

    Raises:
        OlderSchemaError: written under an older schema (unless ``any_schema``).
        ResultDocumentError: unreadable, not JSON, not a result, or of an unknown schema.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise ResultDocumentError(f"{path}: unreadable ({exc.strerror or exc}).") from exc
    except json.JSONDecodeError as exc:
        raise ResultDocumentError(f"{path}: not valid JSON (a damaged or half-copied file).") from exc
    if not isinstance(doc, dict):
        raise ResultDocumentError(f"{path}: not a result document (a JSON {type(doc).__name__}, not an object).")
    schema = doc.get("schema_version")
    if schema != SCHEMA_VERSION and not (any_schema and isinstance(schema, int) and schema < SCHEMA_VERSION):
        if isinstance(schema, int) and schema < SCHEMA_VERSION:
            raise OlderSchemaError(
                f"{path}: written under results schema {schema} (this stbench reads {SCHEMA_VERSION}); "
                f"update it with `{rescore_command(path.parents[2])}` or rerun its cell with --overwrite."
            )
        raise ResultDocumentError(f"{path}: results schema {schema!r} is not one this stbench reads ({SCHEMA_VERSION}).")
    try:
        item = ResultFile(doc["cohort"]["name"], doc["model"]["name"], int(doc["fold"]), doc, path)
    except (KeyError, TypeError, ValueError) as exc:
        raise ResultDocumentError(f"{path}: lacks the cohort name, model name or fold of a result.") from exc
    try:  # both become parts of paths (figures, artefacts, the prepared data)
        plain_name(item.cohort, "cohort name")
        plain_name(item.model, "model name")
    except StbenchError as exc:
        raise ResultDocumentError(f"{path}: {str(exc)[0].lower()}{str(exc)[1:]}") from exc
    return item


def load_result(path: Path, *, any_schema: bool = False) -> tuple[ResultFile | None, str | None]:
    """One result file: ``(result, None)``, or ``(None, one sentence saying why it cannot be used)``.

    A result of an older schema is refused with the command that updates it; ``any_schema=True``
    loads it anyway (what ``stbench rescore`` does to bring it up to date).
    """
    try:
        return read_result_file(path, any_schema=any_schema), None
    except ResultDocumentError as exc:
        return None, str(exc)


def scan_results(results: Path) -> tuple[list[ResultFile], list[str]]:
    """Every result under ``results`` that this stbench reads, and one sentence per file it cannot."""
    found, problems = [], []
    for path in result_paths(results):
        item, problem = load_result(path)
        if item is not None:
            found.append(item)
        else:
            problems.append(problem)
    return found, problems


def iter_results(results: Path) -> Iterator[ResultFile]:
    """Every valid result under ``results`` (files of other schemas are skipped)."""
    yield from scan_results(results)[0]


def outdated(found: Iterable[ResultFile], metrics_version: int | None = None) -> list[ResultFile]:
    """The results made under an older metrics definition (``metrics_version`` below the current)."""
    if metrics_version is None:
        from stbench.metrics import METRICS_VERSION as metrics_version
    return [r for r in found if int(r.document.get("metrics_version") or 0) < metrics_version]


def on_old_split(found: Iterable[ResultFile]) -> list[ResultFile]:
    """The results of named cohorts with a committed split whose ``split_sha256`` is not that
    split's (made on folds since regenerated); QC-derived splits are checked by validation."""
    from stbench.protocol.splits import load_split

    current: dict[str, str | None] = {}
    old = []
    for r in found:
        if r.cohort not in current:
            try:
                split = load_split(r.cohort)
                current[r.cohort] = None if split.qc_derived else split.sha256
            except StbenchError:  # a directory cohort, or no readable committed file
                current[r.cohort] = None
        if current[r.cohort] is not None and r.document.get("cohort", {}).get("split_sha256") != current[r.cohort]:
            old.append(r)
    return old


def rerun_command(found: Iterable[ResultFile]) -> str:
    """The command that recomputes the results ``found`` (of one cohort and results folder) on
    the cohort's current split: every model of them on every fold of them."""
    found = list(found)
    models = ",".join(sorted({r.model for r in found}))
    folds = ",".join(str(k) for k in sorted({r.fold for r in found}))
    path = found[0].path
    where = f" --results {path.parents[2]}" if path is not None and len(path.parents) > 2 else ""
    return f"stbench run --model {models} --cohort {found[0].cohort} --folds {folds} --overwrite{where}"


def rescore_command(results: Path) -> str:
    """The command that brings the results under ``results`` up to date."""
    return f"stbench rescore --results {results}"


def stale_notice(results: Path) -> list[str]:
    """Lines naming the results under ``results`` that ``stbench rescore`` would update (none: [])."""
    found, older_schema = [], []
    for path in result_paths(results):
        try:
            found.append(read_result_file(path))
        except OlderSchemaError as exc:
            older_schema.append(exc)
        except ResultDocumentError:
            continue
    old = outdated(found)
    if not old and not older_schema:
        return []
    lines = []
    if old:
        names = ", ".join(f"{r.cohort}/{r.model}/fold{r.fold}" for r in old[:8])
        more = f" and {len(old) - 8} more" if len(old) > 8 else ""
        lines.append(f"{len(old)} result(s) were scored under an older metrics definition: {names}{more}.")
    if older_schema:
        lines.append(f"{len(older_schema)} result(s) were written under an older results schema.")
    lines.append(f"Update them (no retraining) with: {rescore_command(results)}")
    return lines


@dataclass(frozen=True)
class ResultDocument:
    """One results JSON: one (cohort, model, fold) cell, ``<results>/<cohort>/<model>/fold<k>.json``.

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
