"""Rebuild the committed split files from the sources' metadata tables.

``stbench splits generate`` calls :func:`generate`; run on the same metadata it reproduces
``splits/*.json`` byte for byte. HEST cohorts group slides by ``patient`` (a slide with no
patient is its own group); STImage-1K4M names no patients, so its slides are grouped by donor
through the committed table ``stbench/data/stimage_donors.csv`` (see :mod:`stbench.protocol.donors`),
and its files hold candidates only (folds are dealt from the QC-passed slides at preparation);
the demo cohort groups by the patient column of its generated metadata. The HEST-Benchmark
cohorts' files are transcribed from the published benchmark, not generated (they are refused here).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from stbench.protocol.cohorts import COHORTS, CohortSpec
from stbench.protocol.donors import DONOR_TABLE, read_donor_table
from stbench.errors import StbenchError
from stbench.paths import data_root
from stbench.protocol.splits import build_split_document, splits_dir, write_split


def _groups(rows: pd.DataFrame, id_col: str, patient_col: str | None) -> dict[str, str]:
    groups = {}
    for _, row in rows.iterrows():
        sid = str(row[id_col])
        patient = row.get(patient_col) if patient_col else None
        groups[sid] = f"patient:{patient}" if isinstance(patient, str) and patient.strip() else f"slide:{sid}"
    return groups


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def default_metadata(source: str, root: Path | None = None) -> Path:
    """Where a downloaded metadata table lives under the data root."""
    raw = data_root(root) / "raw"
    return raw / "hest" / "HEST_v1_1_0.csv" if source == "hest" else raw / "stimage" / "meta" / "meta_all_gene02122025.csv"


def split_document(spec: CohortSpec, metadata: Path | None, root: Path | None = None) -> dict:
    """The split document of one cohort, from its source's metadata table."""
    if spec.published:
        raise StbenchError(
            f"The split of cohort {spec.name} is transcribed from {spec.published}, not generated; "
            f"splits/{spec.name}.json is the record (restore it with 'git checkout')."
        )
    if spec.source == "demo":
        from stbench.data.builtin import ensure_builtin

        path = ensure_builtin(spec.name, data_root(root)) / "metadata.csv"
        rows = pd.read_csv(path)
        return build_split_document(spec.name, spec.rule, _groups(rows, "id", "patient"))
    if metadata is None or not Path(metadata).is_file():
        raise StbenchError(
            f"The {spec.source} metadata table is needed to generate the {spec.name} split; "
            f"pass it with --{spec.source}-metadata PATH (looked for {metadata})."
        )
    table = pd.read_csv(metadata, encoding="utf-8-sig")
    rows = spec.select(table)
    extra = {"metadata_file": Path(metadata).name, "metadata_sha256": _sha256(metadata)}
    if spec.source == "hest":
        return build_split_document(spec.name, spec.rule, _groups(rows, "id", "patient"), extra=extra)
    extra["grouping"] = (
        f"donor from stbench/data/{DONOR_TABLE.name} (slide name and study; the whole study where it "
        "names no donor)"
    )
    extra["qc"] = {"min_radius_px": spec.min_radius_px, "applied": "when the data is prepared"}
    return build_split_document(spec.name, spec.rule, _donor_groups(spec, rows), extra=extra, folds_after_qc=True)


def _donor_groups(spec: CohortSpec, rows: pd.DataFrame) -> dict[str, str]:
    donors = read_donor_table()
    slides = rows["slide"].astype(str).tolist()
    missing = [s for s in slides if s not in donors]
    if missing:
        raise StbenchError(
            f"{len(missing)} slide(s) of cohort {spec.name} have no row in {DONOR_TABLE} (e.g. {missing[0]}); "
            "rebuild it with python -m stbench.protocol.donors."
        )
    return {s: f"donor:{donors[s]}" for s in slides}


def generate(
    names: list[str], *, hest_metadata: Path | None, stimage_metadata: Path | None,
    out_dir: Path | None = None, root: Path | None = None,
) -> list[Path]:
    """Write ``<out_dir>/<name>.json`` for each cohort; returns the paths written."""
    out_dir = out_dir or splits_dir()
    written = []
    for name in names:
        spec = COHORTS[name]
        metadata = {"hest": hest_metadata, "stimage": stimage_metadata}.get(spec.source)
        if spec.source != "demo" and metadata is None:
            metadata = default_metadata(spec.source, root)
        doc = split_document(spec, metadata, root)
        path = out_dir / f"{name}.json"
        write_split(path, doc)
        written.append(path)
    return written
