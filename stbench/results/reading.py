"""Result files on disk: where they live, which schema this stbench reads, and scanning a folder.

Layout: ``<results>/<cohort>/<model>/fold<k>.json``; the model's artefacts (checkpoints,
figures) go to ``<results>/<cohort>/<model>/fold<k>/``. Cohort and model names become parts of
these paths and must be plain names (:func:`stbench.untrusted.plain_name`).

Schema history: 1 = the first format; 2 adds ``model.source`` (``"harness"`` for a model run by
``stbench run``, ``"predictions"`` for predictions scored by ``stbench score``) and makes
``metrics_version``, ``predictions`` and ``training`` part of every result. A result of another
schema is never loaded silently: :func:`scan_results` names it in one sentence. What the document
holds is :class:`stbench.results.document.ResultDocument`; which results are valid,
:mod:`stbench.results.validity`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stbench.errors import StbenchError
from stbench.untrusted import plain_name
from stbench.results.layout import artefact_dir, cell_stem, model_entry, result_path  # noqa: F401  (re-exported)

SCHEMA_VERSION = 2


class ResultDocumentError(StbenchError):
    """A result document lacks a field or has one this stbench does not know."""


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
    """One loaded result: its cohort, model name, fold and document (and the file it came from).

    ``seed`` is the document's seed; ``entry`` the model's name in the layout and on the
    leaderboard (:func:`model_entry`: ``model@encoder`` for a result made with ``--set encoder``).
    """

    cohort: str
    model: str
    fold: int
    document: dict
    path: Path | None = None

    @property
    def seed(self) -> int:
        return int(self.document.get("seed") or 0)

    @property
    def entry(self) -> str:
        return model_entry(self.model, (self.document.get("model") or {}).get("settings"))

    @property
    def canonical_path(self) -> Path:
        """Where the layout puts this result, relative to its results folder."""
        return result_path(Path(), self.cohort, self.entry, self.fold, self.seed)


def result_paths(results: Path) -> list[Path]:
    """Every ``<cohort>/<entry>/fold<k>[-seed<s>].json`` under ``results``, sorted."""
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
        model_entry(item.model, doc["model"].get("settings"))
        seed = doc.get("seed", 0)  # a result without a seed counts as seed 0
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise StbenchError(f"The seed {seed!r} is not a non-negative integer.")
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
    the cohort's current split: every model of them on every fold (and seed) of them."""
    found = list(found)
    models = ",".join(sorted({r.model for r in found}))
    folds = ",".join(str(k) for k in sorted({r.fold for r in found}))
    seeds = sorted({r.seed for r in found})
    seed_arg = f" --seeds {','.join(map(str, seeds))}" if seeds != [0] else ""
    path = found[0].path
    where = f" --results {path.parents[2]}" if path is not None and len(path.parents) > 2 else ""
    return f"stbench run --model {models} --cohort {found[0].cohort} --folds {folds}{seed_arg} --overwrite{where}"


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
        names = ", ".join(f"{r.cohort}/{r.entry}/{cell_stem(r.fold, r.seed)}" for r in old[:8])
        more = f" and {len(old) - 8} more" if len(old) > 8 else ""
        lines.append(f"{len(old)} result(s) were scored under an older metrics definition: {names}{more}.")
    if older_schema:
        lines.append(f"{len(older_schema)} result(s) were written under an older results schema.")
    lines.append(f"Update them (no retraining) with: {rescore_command(results)}")
    return lines
