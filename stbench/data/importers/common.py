"""What every importer shares: one section in memory, and its writer to the HEST-1k layout.

An importer reads its format into a :class:`Section` (raw counts, spot centres in pixels of the
full-resolution image, the image file, the pixel size); :func:`write_section` writes it as

    st/{id}.h5ad      X: raw counts, csr float32 (spots x genes); obsm["spatial"] = centres (x, y) px
    patches/{id}.h5   img uint8 (N, 224, 224, 3): a square of ``patch_um`` micrometres around each
                      spot, resized bilinearly; barcode (N, 1) bytes; coords (N, 2) float64 top-left
                      (x, y) corner in full-resolution px, attribute ``patch_size_level0`` = side in px

and :func:`write_metadata` adds the sections' rows to ``metadata.csv``, the table
:mod:`stbench.data.hest` reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from stbench.data import crops
from stbench.data.hest_layout import write_counts_h5ad, write_metadata_table, write_patch_file
from stbench.data.spots import PATCH_SIZE
from stbench.errors import StbenchError

PATCH_UM = 112.0
"""Side of a patch in micrometres: HEST-1k's 224 px at 0.5 um/px."""
MAX_PATCH_UM = 2000.0
"""Largest patch side accepted (micrometres): ten legacy-ST spot pitches (200 um), far above any
tissue context a 224 px patch can show."""
METADATA_COLUMNS = (
    "id", "st_technology", "organ", "species", "patient", "pixel_size_um_estimated", "inter_spot_dist",
    "spot_diameter", "spots_under_tissue", "nb_genes", "source",
)  # fmt: skip

Track = Callable[[Iterable, str, int], Iterator]
"""Wraps a loop for progress display: (iterable, description, total) -> iterator."""


@dataclass(frozen=True)
class SectionInfo:
    """What the user says about one section (command-line options or a row of the sample sheet).

    Attributes:
        source: the section's input (a Space Ranger folder, or a legacy-ST count table).
        section: slide id to write; ``None`` derives one from the source's name.
        patient: patient (or animal) id; ``None`` makes the section its own group in splits.
        image: the full-resolution H&E image; ``None`` looks for it beside the source.
        spots: legacy ST only: the spot alignment table; ``None`` looks beside the count table.
        pixel_size_um: micrometres per full-resolution pixel; ``None`` derives it from the spot pitch.
    """

    source: Path
    section: str | None = None
    patient: str | None = None
    image: Path | None = None
    spots: Path | None = None
    pixel_size_um: float | None = None


@dataclass(frozen=True)
class Section:
    """One section read by an importer.

    Attributes:
        id: slide id.
        technology: HEST ``st_technology`` value.
        barcodes: (n,) str spot identifiers.
        genes: (g,) str gene names as stored.
        counts: csr float32 (n, g) raw integer counts, spots x genes.
        centres: (n, 2) float64 spot centres (x, y) in full-resolution image pixels.
        image: the full-resolution image file.
        pixel_size_um: micrometres per image pixel.
        pitch_um: the technology's spot centre-to-centre distance in micrometres.
        spot_diameter_um: the technology's spot diameter in micrometres.
        obs: extra per-spot columns for the h5ad (e.g. array row/column), ``n`` rows.
    """

    id: str
    technology: str
    barcodes: np.ndarray
    genes: np.ndarray
    counts: sp.csr_matrix
    centres: np.ndarray
    image: Path
    pixel_size_um: float
    pitch_um: float
    spot_diameter_um: float
    obs: pd.DataFrame


def pixel_size_from_pitch(centres: np.ndarray, pitch_um: float, what: str) -> float:
    """Micrometres per pixel from spot centres (n, 2) px whose neighbours are ``pitch_um`` apart.

    The pitch in pixels is the median distance from each spot to its nearest neighbour.

    Raises:
        StbenchError: fewer than two distinct spots, so no pitch can be measured.
    """
    from scipy.spatial import cKDTree

    pts = np.unique(np.asarray(centres, dtype=np.float64), axis=0)
    if len(pts) < 2:
        raise StbenchError(f"{what} has fewer than two spots, so the pixel size cannot be derived; pass it.")
    dist, _ = cKDTree(pts).query(pts, k=2)
    return float(pitch_um / np.median(dist[:, 1]))


def find_image(directory: Path, stems: Iterable[str], what: str) -> Path:
    """The image ``{stem}.{tif,tiff,jpg,jpeg,png}`` in ``directory`` for the first stem that has one."""
    stems = list(stems)
    for stem in stems:
        for ext in (".tif", ".tiff", ".jpg", ".jpeg", ".png", ".TIF", ".TIFF", ".JPG", ".JPEG", ".PNG"):
            if (directory / f"{stem}{ext}").is_file():
                return directory / f"{stem}{ext}"
    raise StbenchError(
        f"{what} has no full-resolution image ({' or '.join(f'{s}.tif/.jpg/.png' for s in stems)} in {directory}); "
        "pass it with --image or an image column in the sample sheet."
    )


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a file, else a one-sentence :class:`StbenchError` naming ``what`` it is."""
    if path.is_dir():
        raise StbenchError(f"{what} {path} is a folder, not a file; give the file itself.")
    if not path.is_file():
        raise StbenchError(f"{what} {path} does not exist.")
    return path


def check_section(section: Section) -> None:
    """Refuse a section that cannot be written as it is; return notes on what was changed.

    Refused (one sentence each): a section id that is not a plain name (it names the files
    ``st/{id}.h5ad`` and ``patches/{id}.h5``, so ``../x`` or ``/tmp/x`` would write outside the
    folder), names that are not valid UTF-8 (h5ad and HDF5 store UTF-8), no genes or no spots,
    negative, NaN or infinite counts (raw counts are non-negative; these mean a normalised or
    damaged table). Duplicate gene names are summed into one column with a note: 10x matrices
    legitimately name several features with one symbol, and refusing would refuse real data.

    Raises:
        StbenchError: any of the refusals above.
    """
    from stbench.untrusted import plain_name, utf8_problem

    what = f"Section {section.id!r}"
    plain_name(section.id, "section id")
    for values, kind in ((section.genes, "gene name"), (section.barcodes, "barcode")):
        problem = utf8_problem(values, kind)
        if problem:
            raise StbenchError(f"{what}: {problem}; re-encode the file as UTF-8.")
    n, g = section.counts.shape
    if g == 0 or n == 0:
        raise StbenchError(f"{what} has {n} spot(s) and {g} gene(s); an empty section cannot be imported.")
    data = section.counts.data
    if not np.isfinite(data).all():
        raise StbenchError(f"{what} has {int((~np.isfinite(data)).sum())} NaN or infinite count(s); give raw counts.")
    if (data < 0).any():
        raise StbenchError(f"{what} has {int((data < 0).sum())} negative count(s); give raw (non-negative) counts.")


def merge_duplicate_genes(section: Section) -> tuple[Section, str | None]:
    """``section`` with columns of the same gene name summed (first occurrence's position), and a
    note naming how many names were repeated (``None`` when none was)."""
    names, first, inverse = np.unique(section.genes.astype(str), return_index=True, return_inverse=True)
    if len(names) == len(section.genes):
        return section, None
    order = np.argsort(first)  # keep the genes in the order they first appear
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    merge = sp.csr_matrix(
        (np.ones(len(inverse), np.float32), (np.arange(len(inverse)), rank[inverse.ravel()])), shape=(len(inverse), len(names))
    )
    counts = (section.counts @ merge).tocsr()
    repeated = len(section.genes) - len(names)
    note = (f"Section {section.id}: {repeated} column(s) repeat a gene name (e.g. {str(names[np.bincount(inverse.ravel()) > 1][0])!r}); "
            "their counts were summed into one column per name.")
    from dataclasses import replace

    return replace(section, genes=names[order], counts=counts), note


def write_section(section: Section, out: Path, patch_um: float = PATCH_UM) -> dict:
    """Write ``section`` into the HEST-layout folder ``out``; returns its ``metadata.csv`` row."""
    (out / "st").mkdir(parents=True, exist_ok=True)
    (out / "patches").mkdir(parents=True, exist_ok=True)
    obs = section.obs.copy()
    obs.index = pd.Index(section.barcodes.astype(str), dtype=str)
    obs["pxl_col_in_fullres"] = section.centres[:, 0]
    obs["pxl_row_in_fullres"] = section.centres[:, 1]
    st, patches = out / "st" / f"{section.id}.h5ad", out / "patches" / f"{section.id}.h5"
    tmp_st, tmp_patches = st.with_name(f".{st.name}.tmp"), patches.with_name(f".{patches.name}.tmp")
    try:  # both files under temporary names first, so a failure leaves no half section (nor orphan files)
        write_counts_h5ad(
            tmp_st, section.counts.astype(np.float32), section.barcodes, section.genes,
            section.centres.astype(np.float64), obs=obs, uns={"pixel_size_um": section.pixel_size_um},
        )
        _write_patches(section, tmp_patches, patch_um / section.pixel_size_um)
        tmp_st.replace(st)
        tmp_patches.replace(patches)
    finally:
        tmp_st.unlink(missing_ok=True)
        tmp_patches.unlink(missing_ok=True)
    return {
        "id": section.id,
        "st_technology": section.technology,
        "pixel_size_um_estimated": round(section.pixel_size_um, 6),
        "inter_spot_dist": section.pitch_um,
        "spot_diameter": section.spot_diameter_um,
        "spots_under_tissue": len(section.barcodes),
        "nb_genes": len(section.genes),
    }


def _write_patches(section: Section, path: Path, side_px: float) -> None:
    """Crop a ``side_px`` square around every spot (white outside the image), resized to 224 x 224
    (:mod:`stbench.data.crops`)."""
    pixels = crops.image_array(section.image)
    half = side_px / 2
    xyr = np.column_stack([section.centres, np.full(len(section.centres), half)])
    write_patch_file(
        path, section.barcodes, section.centres - half, crops.patch_blocks(pixels, xyr),
        img_attrs={"pixel_size_um": section.pixel_size_um * side_px / PATCH_SIZE},
        coords_attrs={"patch_size_level0": side_px, "corner": "top-left (x, y)"},
    )


def write_metadata(rows: list[dict], out: Path) -> Path:
    """Add ``rows`` to ``out/metadata.csv`` (a row with the same id is replaced); returns its path."""
    path = out / "metadata.csv"
    new = pd.DataFrame(rows)
    if path.is_file():
        old = pd.read_csv(path, dtype=str, keep_default_na=False)
        if "id" not in old.columns:
            raise StbenchError(f"{path} exists but has no id column; choose another --out folder.")
        new = pd.concat([old[~old["id"].isin(new["id"])], new.astype(str)], ignore_index=True)
    columns = [c for c in METADATA_COLUMNS if c in new.columns] + [c for c in new.columns if c not in METADATA_COLUMNS]
    return write_metadata_table(out, new, columns)
