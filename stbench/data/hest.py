"""Reader of cohort directories in the HEST-1k layout.

Layout (a hub snapshot of ``MahmoodLab/hest``, the demo cohort, or a user's own directory)::

    metadata.csv or HEST_v1_*.csv   one row per slide: id, st_technology, organ[, patient, species]
    st/{id}.h5ad                    raw counts (spots x genes); obsm["spatial"] = spot centres (x, y)
    patches/{id}.h5                 img uint8 (N, 224, 224, 3); barcode (N, 1) bytes;
                                    coords (N, 2) = patch TOP-LEFT corner, full-resolution px

Patches are joined to spots by barcode, never by row order. :func:`read_slide` does the join,
harmonises gene names and drops spots that cannot be used, counting each reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from stbench.data.panel import harmonise_genes, merge_columns
from stbench.data.spots import PATCH_SIZE
from stbench.errors import StbenchError

REQUIRED_COLUMNS = ("id", "st_technology", "organ")
MIN_MATCHED_FRACTION = 0.5
"""A slide whose spots find a patch for less than this fraction is refused (wrong patch file)."""
_ROW_CHUNK = 2048  # rows of a dense h5ad matrix read at a time
_CHECK_CHUNK = 1 << 24  # values checked for integrality at a time


def find_metadata(directory: Path) -> Path | None:
    """The slide table of a HEST-layout directory: ``metadata.csv``, else the newest ``HEST_v1_*.csv``."""
    if (directory / "metadata.csv").is_file():
        return directory / "metadata.csv"
    candidates = sorted(directory.glob("HEST_v1_*.csv"))
    return candidates[-1] if candidates else None


def is_hest_dir(directory: Path) -> bool:
    """Whether ``directory`` looks like a HEST-layout cohort (has ``st/`` and ``patches/``)."""
    return (directory / "st").is_dir() and (directory / "patches").is_dir()


@dataclass(frozen=True)
class SlideSource:
    """One slide of a HEST-layout directory: its metadata and its two files."""

    id: str
    technology: str
    organ: str
    patient: str | None
    species: str | None
    h5ad: Path
    patches: Path

    def metadata(self) -> dict[str, str | None]:
        return {"technology": self.technology, "organ": self.organ, "patient": self.patient, "species": self.species}


def read_slide_table(directory: Path, ids: tuple[str, ...] | None = None) -> list[SlideSource]:
    """The slides of a HEST-layout directory, in metadata order (or in ``ids`` order).

    Args:
        directory: the cohort directory.
        ids: the slides to take; ``None`` takes every row of the metadata table.

    Raises:
        StbenchError: no metadata table, missing columns, duplicate or unknown ids, or a row
            whose h5ad or patch file is absent.
    """
    path = find_metadata(directory)
    if path is None:
        raise StbenchError(f"Directory {directory} has no metadata.csv (or HEST_v1_*.csv) listing its slides.")
    table = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise StbenchError(f"Metadata table {path} lacks the column(s) {', '.join(missing)}.")
    table["id"] = table["id"].str.strip()
    duplicated = sorted(set(table["id"][table["id"].duplicated()]))
    if duplicated:
        raise StbenchError(f"Metadata table {path} lists slide id {duplicated[0]!r} more than once.")
    rows = table.set_index("id", drop=False)
    if ids is not None:
        unknown = [i for i in ids if i not in rows.index]
        if unknown:
            raise StbenchError(
                f"Metadata table {path} has no row for {len(unknown)} slide(s) of the cohort (e.g. {unknown[0]!r})."
            )
        rows = rows.loc[list(ids)]
    sources = []
    for _, row in rows.iterrows():
        sid = row["id"]
        src = SlideSource(
            id=sid,
            technology=row["st_technology"].strip() or "unknown",
            organ=row["organ"].strip() or "unknown",
            patient=_optional(row, "patient"),
            species=_optional(row, "species"),
            h5ad=directory / "st" / f"{sid}.h5ad",
            patches=directory / "patches" / f"{sid}.h5",
        )
        for file in (src.h5ad, src.patches):
            if not file.is_file():
                raise StbenchError(
                    f"Slide {sid} is listed in {path.name} but {file.relative_to(directory)} "
                    f"is missing from {directory}."
                )
        sources.append(src)
    return sources


def _optional(row: pd.Series, column: str) -> str | None:
    value = str(row.get(column, "")).strip()
    return value or None


@dataclass(frozen=True)
class Counts:
    """Raw counts of one h5ad: csr float32 (n_spots, n_genes), integer-valued."""

    barcodes: np.ndarray  # (n_spots,) str
    genes: np.ndarray  # (n_genes,) str, as stored
    matrix: sp.csr_matrix
    centres: np.ndarray | None  # (n_spots, 2) float64 spot centres (x, y), full-res px


def read_counts(path: Path, slide_id: str) -> Counts:
    """Raw counts of an h5ad: ``layers["counts"]``, else ``.raw``, else ``X``, whichever is first
    to hold non-negative integers.

    Raises:
        StbenchError: none of them holds counts (the file looks normalised).
    """
    with _open_h5(path, slide_id) as f:
        barcodes = _read_index(f["obs"])
        candidates = [("layers/counts", "var"), ("raw/X", "raw/var"), ("X", "var")]
        for matrix_key, var_key in candidates:
            if matrix_key not in f or var_key not in f:
                continue
            matrix = _read_matrix(f[matrix_key])
            if matrix.shape[0] != len(barcodes):
                continue
            if _is_counts(matrix.data):
                return Counts(barcodes, _read_index(f[var_key]), matrix, _read_centres(f, len(barcodes)))
            del matrix
    raise StbenchError(
        f"Slide {slide_id}: {path.name} looks normalised, not raw counts (X has negative or non-integer values "
        "and there is no layers['counts'] or .raw with counts)."
    )


@contextmanager
def _open_h5(path: Path, slide_id: str) -> Iterator[h5py.File]:
    """``path`` opened read-only; unreadable files and missing entries become :class:`StbenchError`."""
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise StbenchError(f"Slide {slide_id}: {path.name} is not a readable HDF5 file ({exc}).") from exc
    with f:
        try:
            yield f
        except KeyError as exc:
            raise StbenchError(f"Slide {slide_id}: {path.name} lacks the entry {exc}.") from exc


def _read_index(group: h5py.Group) -> np.ndarray:
    from anndata.io import read_elem

    return np.asarray(read_elem(group[group.attrs["_index"]]), dtype=str)


def _read_matrix(elem: h5py.Group | h5py.Dataset) -> sp.csr_matrix:
    """A stored matrix as csr float32; dense ones are read in row chunks so memory stays sparse."""
    from anndata.io import read_elem, sparse_dataset

    if isinstance(elem, h5py.Dataset):
        chunks = [
            sp.csr_matrix(np.asarray(elem[start : start + _ROW_CHUNK], dtype=np.float32))
            for start in range(0, elem.shape[0], _ROW_CHUNK)
        ]
        matrix = sp.vstack(chunks, format="csr") if chunks else sp.csr_matrix(elem.shape, dtype=np.float32)
    elif elem.attrs.get("encoding-type") in ("csr_matrix", "csc_matrix"):
        matrix = sparse_dataset(elem).to_memory()
    else:
        matrix = read_elem(elem)
    matrix = sp.csr_matrix(matrix, dtype=np.float32)
    matrix.sum_duplicates()
    return matrix


def _is_counts(values: np.ndarray) -> bool:
    for start in range(0, len(values), _CHECK_CHUNK):
        chunk = values[start : start + _CHECK_CHUNK]
        if not (np.all(chunk >= 0) and np.all(np.floor(chunk) == chunk)):
            return False
    return True


def _read_centres(f: h5py.File, n_spots: int) -> np.ndarray | None:
    from anndata.io import read_elem

    if "obsm/spatial" not in f:
        return None
    centres = np.asarray(read_elem(f["obsm/spatial"]), dtype=np.float64)
    if centres.ndim != 2 or centres.shape[0] != n_spots or centres.shape[1] < 2:
        return None
    return centres[:, :2]


@dataclass(frozen=True)
class PatchIndex:
    """The barcodes and positions of a patch file (no pixels)."""

    barcodes: np.ndarray  # (N,) str
    top_left: np.ndarray  # (N, 2) float64, (x, y) full-res px
    extent: float  # patch side in full-res px


def read_patch_index(path: Path, slide_id: str) -> PatchIndex:
    """Barcodes and top-left corners of ``patches/{id}.h5``.

    The patch side in full-resolution pixels is the ``coords`` attribute ``patch_size_level0``
    when the file has one, else 224 (HEST patches are 224 px at 0.5 um/px).
    """
    with _open_h5(path, slide_id) as f:
        raw = np.asarray(f["barcode"][()]).ravel()
        coords = np.asarray(f["coords"][()], dtype=np.float64)
        extent = float(f["coords"].attrs.get("patch_size_level0", PATCH_SIZE))
    barcodes = np.array([b.decode() if isinstance(b, bytes) else str(b) for b in raw], dtype=str)
    return PatchIndex(np.char.strip(barcodes), coords[:, :2], extent)


def read_patch_rows(path: Path, rows: np.ndarray) -> np.ndarray:
    """Rows of ``img`` in ``path``, in the order given: uint8 (len(rows), 224, 224, 3).

    h5py needs increasing indices, so the unique rows are read in sorted runs and put back in
    the requested order. The file is opened for this call only.
    """
    rows = np.asarray(rows, dtype=np.int64)
    unique, inverse = np.unique(rows, return_inverse=True)
    with h5py.File(path, "r") as f:
        img = f["img"]
        out = np.empty((len(unique), *img.shape[1:]), dtype=np.uint8)
        breaks = np.flatnonzero(np.diff(unique) != 1) + 1
        for run_start, run in zip(np.concatenate([[0], breaks]), np.split(unique, breaks)):
            if len(run):
                out[run_start : run_start + len(run)] = img[run[0] : run[-1] + 1]
    return out[inverse]


@dataclass(frozen=True)
class JoinedSlide:
    """One slide's usable spots: counts on harmonised genes, joined to patches by barcode.

    Rows keep the h5ad's spot order, less dropped spots.
    """

    barcodes: np.ndarray  # (n,) str
    coords: np.ndarray  # (n, 2) float32 spot centres (x, y), full-res px
    patch_rows: np.ndarray  # (n,) int64 rows of patches/{id}.h5 `img`
    genes: tuple[str, ...]  # harmonised, sorted
    counts: sp.csr_matrix  # (n, len(genes)) float32 raw counts
    n_spots_raw: int
    dropped: dict[str, int] = field(default_factory=dict)
    n_unmatched_patches: int = 0
    n_merged_genes: int = 0
    original_names: dict[str, str] = field(default_factory=dict)  # harmonised -> first stored spelling


def read_slide(source: SlideSource) -> JoinedSlide:
    """Read one slide, join its spots to patches by barcode and harmonise its genes.

    Spots without a patch are dropped (``"no_patch"``), then spots with zero total counts
    (``"zero_counts"``); patches without a spot are ignored and counted.

    Raises:
        StbenchError: the h5ad holds no raw counts, or fewer than half of its spots (or none)
            have a patch with the same barcode.
    """
    counts = read_counts(source.h5ad, source.id)
    index = read_patch_index(source.patches, source.id)
    row_of = {}
    for row, barcode in enumerate(index.barcodes):
        row_of.setdefault(barcode, row)
    spot_barcodes = np.char.strip(counts.barcodes)
    patch_rows = np.array([row_of.get(b, -1) for b in spot_barcodes], dtype=np.int64)
    has_patch = patch_rows >= 0
    n_raw, n_matched = len(spot_barcodes), int(has_patch.sum())
    if n_matched == 0 or n_matched < MIN_MATCHED_FRACTION * n_raw:
        raise StbenchError(
            f"Slide {source.id}: only {n_matched} of its {n_raw} spots have a patch with the same barcode in "
            f"{source.patches.name}; the patch file does not belong to this h5ad."
        )
    genes, codes = harmonise_genes(counts.genes)
    matrix = merge_columns(_rows(counts.matrix, has_patch), codes, len(genes))
    nonzero = np.asarray(matrix.sum(axis=1)).ravel() > 0
    keep = np.flatnonzero(has_patch)[nonzero]
    rows = patch_rows[keep]
    if counts.centres is not None and np.isfinite(counts.centres[keep]).all():
        centres = counts.centres[keep]
    else:
        centres = index.top_left[rows] + index.extent / 2
    originals: dict[str, str] = {}
    for name, code in zip(counts.genes, codes):
        originals.setdefault(genes[code], str(name))
    return JoinedSlide(
        barcodes=spot_barcodes[keep],
        coords=centres.astype(np.float32),
        patch_rows=rows,
        genes=genes,
        counts=_rows(matrix, nonzero),
        n_spots_raw=n_raw,
        dropped={k: v for k, v in {"no_patch": n_raw - n_matched, "zero_counts": int((~nonzero).sum())}.items() if v},
        n_unmatched_patches=len(set(index.barcodes) - set(spot_barcodes.tolist())),
        n_merged_genes=len(counts.genes) - len(genes),
        original_names={g: n for g, n in originals.items() if n != g},
    )


def _rows(matrix: sp.csr_matrix, mask: np.ndarray) -> sp.csr_matrix:
    """The rows of ``matrix`` where ``mask`` is true (no copy when all are)."""
    return matrix if mask.all() else matrix[mask]
