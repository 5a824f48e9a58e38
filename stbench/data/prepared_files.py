"""The files of a prepared cohort, slide by slide: panel expression, raw counts, spot table, and
the manifest that records them (the layout is described in :mod:`stbench.data.prepare`)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from stbench.data.hest import JoinedSlide
from stbench.data.panel import GENE_RULE, HVG_FLAVOR, N_TOP, TARGET_SUM, normalise_log1p, panel_sha256
from stbench.data.prepared import SCHEMA_VERSION

_BLOCK_VALUES = 1 << 24  # values of a dense expression block written at a time (64 MB)


def write_slide(out: Path, slide_id: str, joined: JoinedSlide, patches: Path, position: dict[str, int]) -> dict:
    """Write one slide's ``expr/``, ``counts/`` and ``spots/`` files under ``out`` (genes placed by
    ``position``, panel gene -> column) and return its manifest entry, less id and metadata."""
    expr_path = out / "expr" / f"{slide_id}.npy"
    n_missing = write_expression(expr_path, normalise_log1p(joined.counts), joined.genes, position)
    write_counts(out / "counts" / f"{slide_id}.npz", joined.counts, joined.genes, position)
    np.savez(out / "spots" / f"{slide_id}.npz", barcodes=joined.barcodes, coords=joined.coords, patch_rows=joined.patch_rows)
    patch_sha = file_sha256(patches)
    rows_sha = hashlib.sha256(joined.patch_rows.astype("<i8").tobytes()).hexdigest()
    return {
        "n_spots": len(joined.barcodes),
        "n_spots_raw": joined.n_spots_raw,
        "dropped": joined.dropped,
        "n_unmatched_patches": joined.n_unmatched_patches,
        "n_merged_genes": joined.n_merged_genes,
        "n_panel_genes_missing": n_missing,
        "expr_sha256": file_sha256(expr_path),
        "patch_sha256": patch_sha,
        "patch_key": hashlib.sha256(f"{patch_sha}:{rows_sha}".encode()).hexdigest()[:16],
    }


def write_expression(path: Path, logx: sp.csr_matrix, genes: Sequence[str], position: dict[str, int]) -> int:
    """Write float32 (n_spots, len(position)) to ``path`` block by block; returns panel genes absent here."""
    cols = np.array([j for j, g in enumerate(genes) if g in position], dtype=np.int64)
    targets = np.array([position[genes[j]] for j in cols], dtype=np.int64)
    on_panel = logx[:, cols]
    n_spots, n_genes = logx.shape[0], len(position)
    step = max(1, _BLOCK_VALUES // max(n_genes, 1))
    with open(path, "wb") as fh:
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False}
        np.lib.format.write_array_header_1_0(fh, {**header, "shape": (n_spots, n_genes)})
        for start in range(0, n_spots, step):
            block = np.zeros((min(step, n_spots - start), n_genes), np.float32)
            block[:, targets] = on_panel[start : start + step].toarray()
            fh.write(block.tobytes())
    return n_genes - len(cols)


def write_counts(path: Path, counts: sp.csr_matrix, genes: Sequence[str], position: dict[str, int]) -> None:
    """Write a slide's raw counts on the panel (int32 csr) and its off-panel totals (see the module docstring)."""
    on_panel = np.array([position.get(g, -1) for g in genes], dtype=np.int64)
    keep = np.flatnonzero(on_panel >= 0)
    move = sp.csr_matrix(
        (np.ones(len(keep), np.float32), (keep, on_panel[keep])), shape=(len(genes), len(position))
    )
    panel = (counts @ move).tocsr()
    panel.sort_indices()
    other = np.rint(np.asarray(counts.sum(axis=1, dtype=np.float64)).ravel() - panel.sum(axis=1, dtype=np.float64).A1)
    np.savez_compressed(
        path,
        data=np.rint(panel.data).astype(np.int32),
        indices=panel.indices.astype(np.int32),
        indptr=panel.indptr.astype(np.int64),
        shape=np.array(panel.shape, np.int64),
        other=other.astype(np.int64),
    )


def file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def manifest(
    *,
    cohort: str,
    source: str,
    revision: str | None,
    source_dir: Path,
    published_panel: bool,
    min_radius: dict[str, float],
    inputs: dict[str, list[int]],
    hest_dir: str,
    panel: tuple[str, ...],
    n_common: int,
    entries: list[dict],
    dropped_slides: dict[str, str],
    n_renamed: int,
) -> dict:
    """The prepared folder's ``manifest.json`` document (the module docstring of
    :mod:`stbench.data.prepare` lists what it records)."""
    from importlib.metadata import version

    import stbench

    return {
        "schema_version": SCHEMA_VERSION,
        "cohort": cohort,
        "source": source,
        "revision": revision,
        "source_dir": str(source_dir),
        "hest_dir": hest_dir,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "stbench_version": stbench.__version__,
        "normalisation": {
            "target_sum": TARGET_SUM,
            "log1p": True,
            "formula": "log1p(count / spot_total * target_sum)",
            "zero_count_spots": "dropped",
        },
        "panel_rule": {"rule": "published panel, from the cohort's split file", "n_common_genes": n_common}
        if published_panel else {
            "rule": "genes common to all slides, union over slides of each slide's top HVGs and top HEGs",
            "n_top_hvg": N_TOP,
            "n_top_heg": N_TOP,
            "hvg": f"scanpy.pp.highly_variable_genes(flavor={HVG_FLAVOR!r}, n_top_genes={N_TOP}) "
            "on log-normalised spots",
            "heg": "highest mean log-normalised expression over the slide's spots, ties by name",
            "scanpy_version": version("scanpy"),
            "n_common_genes": n_common,
        },
        "panel_sha256": panel_sha256(panel),
        "n_genes": len(panel),
        "n_spots": sum(e["n_spots"] for e in entries),
        "gene_harmonisation": {
            "rule": GENE_RULE,
            "renamed_panel_genes": n_renamed,
            "spellings_file": "gene_names.tsv",
            "merged_columns": {e["id"]: e["n_merged_genes"] for e in entries if e["n_merged_genes"]},
            "panel_genes_filled_with_zero": {
                e["id"]: e["n_panel_genes_missing"] for e in entries if e["n_panel_genes_missing"]
            },
        },
        "qc": {"min_radius_px": min_radius},
        "slides": entries,
        "dropped_slides": dropped_slides,
        "inputs": inputs,
    }
