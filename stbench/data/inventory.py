"""What is on disk for each named cohort: frozen slides, downloaded raw files, prepared folder."""

from __future__ import annotations

import json
from pathlib import Path

from stbench.protocol.cohorts import COHORTS, CohortSpec
from stbench.data.hub import missing_slides, raw_dir, slide_files
from stbench.errors import StbenchError
from stbench.paths import prepared_dir
from stbench.protocol.splits import load_split


def cohort_status(root: Path | None = None) -> list[dict]:
    """One row per named cohort (demo first, then the six paper cohorts).

    Keys: ``name``, ``source``, ``slides`` (frozen split size, ``None`` without a split file),
    ``downloaded`` (``"complete"``, ``"partial (k/n)"``, ``"no"``, ``"no split file"``, or ``"built-in"``
    for demo),
    ``prepared`` (bool), ``n_genes`` and ``n_spots`` (``None`` unless prepared), ``raw_bytes``
    (the cohort's raw slide files), ``prepared_bytes`` and ``size_bytes`` (their sum).
    """
    return [_status(spec, root) for spec in COHORTS.values()]


def _status(spec: CohortSpec, root: Path | None) -> dict:
    try:
        slides: tuple[str, ...] | None = load_split(spec.name).slides
    except StbenchError:
        slides = None
    raw_bytes = 0
    if spec.source == "demo":
        downloaded = "built-in"
    elif slides is None:
        downloaded = "no split file"
    else:
        raw = raw_dir(spec.source, root)
        files = [p for s in slides for p in slide_files(spec, raw, s) if p is not None and p.is_file()]
        raw_bytes = sum(p.stat().st_size for p in files)
        missing = missing_slides(spec, raw, slides)
        have = len(slides) - len([m for m in missing if m in slides])
        downloaded = "complete" if not missing else f"partial ({have}/{len(slides)})" if have or files else "no"
    folder = prepared_dir(spec.name, root)
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        manifest = None
    prepared_bytes = _tree_size(folder) if manifest is not None else 0
    return {
        "name": spec.name,
        "source": spec.source,
        "slides": len(slides) if slides is not None else None,
        "downloaded": downloaded,
        "prepared": manifest is not None,
        "n_genes": manifest["n_genes"] if manifest else None,
        "n_spots": manifest["n_spots"] if manifest else None,
        "raw_bytes": raw_bytes,
        "prepared_bytes": prepared_bytes,
        "size_bytes": raw_bytes + prepared_bytes,
    }


def _tree_size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
