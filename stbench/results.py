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
import platform
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 2
SOURCES = ("harness", "predictions")
"""``model.source``: how the predictions of a result were made."""


def result_path(results: Path, cohort: str, model: str, fold: int) -> Path:
    return Path(results) / cohort / model / f"fold{fold}.json"


def artefact_dir(results: Path, cohort: str, model: str, fold: int) -> Path:
    return Path(results) / cohort / model / f"fold{fold}"


def write_json_atomic(path: Path, document: Mapping[str, Any]) -> None:
    """Write JSON to ``path`` atomically (never leaves a partial file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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


def load_result(path: Path, *, any_schema: bool = False) -> tuple[ResultFile | None, str | None]:
    """One result file: ``(result, None)``, or ``(None, one sentence saying why it cannot be used)``.

    A result of an older schema is refused with the command that updates it; ``any_schema=True``
    loads it anyway (what ``stbench rescore`` does to bring it up to date).
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        return None, f"{path}: unreadable ({exc.strerror or exc})."
    except json.JSONDecodeError:
        return None, f"{path}: not valid JSON (a damaged or half-copied file)."
    if not isinstance(doc, dict):
        return None, f"{path}: not a result document (a JSON {type(doc).__name__}, not an object)."
    schema = doc.get("schema_version")
    if schema != SCHEMA_VERSION and not (any_schema and isinstance(schema, int) and schema < SCHEMA_VERSION):
        if isinstance(schema, int) and schema < SCHEMA_VERSION:
            return None, (
                f"{path}: written under results schema {schema} (this stbench reads {SCHEMA_VERSION}); "
                f"update it with `{rescore_command(path.parents[2])}` or rerun its cell with --overwrite."
            )
        return None, f"{path}: results schema {schema!r} is not one this stbench reads ({SCHEMA_VERSION})."
    try:
        found = ResultFile(doc["cohort"]["name"], doc["model"]["name"], int(doc["fold"]), doc, path)
    except (KeyError, TypeError, ValueError):
        return None, f"{path}: lacks the cohort name, model name or fold of a result."
    return found, None


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


def rescore_command(results: Path) -> str:
    """The command that brings the results under ``results`` up to date."""
    return f"stbench rescore --results {results}"


def stale_notice(results: Path) -> list[str]:
    """Lines naming the results under ``results`` that ``stbench rescore`` would update (none: [])."""
    found, problems = scan_results(results)
    old = outdated(found)
    older_schema = [p for p in problems if "written under results schema" in p]
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
    threads: int | None = None,
) -> dict:
    """The result document of one cell (``stbench run`` and ``stbench score`` both build it here).

    ``model`` is the model section (name, distribution, version, distribution_version, oracle,
    profile, config, source), ``cohort`` the cohort section (name, n_slides, n_genes,
    panel_sha256, split_sha256, split_file, source, revision, train/val/test slides), ``scores``
    a :class:`stbench.scoring.Scores`, ``predictions`` the predictions folder relative to the
    cell's artefact folder (``None`` when none were kept), ``timings`` seconds, ``threads`` the
    CPU thread count the cell ran with (``None``: not set by stbench, e.g. ``stbench score``).
    """
    from stbench import __version__
    from stbench.metrics import CLUSTERING_DEFAULTS, METRICS_VERSION

    return {
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
    }


def cohort_section(cohort: Any, split: Any, split_file: str, train: list[str], val: list[str], test: list[str]) -> dict:
    """The ``cohort`` section of a result from a prepared cohort and its split (slide ids after QC)."""
    return {
        "name": cohort.name, "n_slides": len(cohort.slides), "n_genes": len(cohort.genes),
        "panel_sha256": cohort.panel_sha256, "split_sha256": split.sha256, "split_file": split_file,
        "source": cohort.source, "revision": cohort.revision, "split_seed": split.document.get("seed"),
        "train_slides": list(train), "val_slides": list(val), "test_slides": list(test),
    }


def package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def git_sha() -> str | None:
    """The commit of the stbench source tree, when it is a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(
        ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True, text=True, timeout=5,
    ).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


def environment(device: str, threads: int | None = None) -> dict[str, Any]:
    """Versions and machine facts recorded with every result (``threads``: the CPU threads the
    cell ran with, recorded when known; bit-for-bit reproduction needs the same count)."""
    import numpy

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "torch": package_version("torch"),
        "scanpy": package_version("scanpy"),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "device": device,
    }
    if threads is not None:
        env["threads"] = threads
    if device.startswith("cuda"):
        import torch

        env["gpu"] = torch.cuda.get_device_name(0)
    return env


def cpu_model() -> str:
    """The CPU's model name (Linux: ``/proc/cpuinfo``; elsewhere :func:`platform.processor`):
    trained numbers reproduce bit for bit only on the same CPU model, thread count and versions."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
