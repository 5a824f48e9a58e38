"""One results JSON per (cohort, model, fold): where it lives, what it holds, how it is written.

Layout: ``<results>/<cohort>/<model>/fold<k>.json``; the model's artefacts (checkpoints,
figures) go to ``<results>/<cohort>/<model>/fold<k>/``. Files are written atomically (a temp
file in the same folder, then ``os.replace``), so a reader never sees half a result.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


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


def iter_results(results: Path) -> Iterator[ResultFile]:
    """Every valid result under ``results`` (files of other schemas are skipped)."""
    for path in sorted(Path(results).glob("*/*/fold*.json")):
        doc = read_result(path)
        if doc is not None:
            yield ResultFile(doc["cohort"]["name"], doc["model"]["name"], int(doc["fold"]), doc)


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


def environment(device: str) -> dict[str, Any]:
    """Versions and machine facts recorded with every result."""
    import numpy

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "torch": package_version("torch"),
        "scanpy": package_version("scanpy"),
        "platform": platform.platform(),
        "device": device,
    }
    if device.startswith("cuda"):
        import torch

        env["gpu"] = torch.cuda.get_device_name(0)
    return env


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
