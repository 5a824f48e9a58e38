"""Reader of Space Ranger (10x Visium) outputs.

A source is a Space Ranger ``outs/`` folder (or the folder holding ``outs/``) with::

    filtered_feature_bc_matrix.h5      10x HDF5: matrix/{barcodes, data, indices, indptr, shape,
                                       features/{id, name, feature_type, genome}}, genes x barcodes
    spatial/tissue_positions.csv       header barcode,in_tissue,array_row,array_col,
                                       pxl_row_in_fullres,pxl_col_in_fullres (Space Ranger >= 2.0)
      or spatial/tissue_positions_list.csv   the same six columns without a header (older versions)
    spatial/scalefactors_json.json     spot_diameter_fullres, tissue_hires_scalef, ...

plus the full-resolution image given to Space Ranger (``--image``, or a single
``*.tif/.tiff/.jpg/.jpeg/.png`` in the source folder, or one named like the folder). Spots are
the barcodes of the filtered matrix that are under tissue; genes are the ``Gene Expression``
features, named by their ``name`` (symbol). Without a given pixel size it is derived from the
spot pitch: Visium spots are 100 um centre to centre.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from stbench.data.importers.common import Section, SectionInfo, find_image, pixel_size_from_pitch, require_file
from stbench.errors import StbenchError

TECHNOLOGY = "Visium"
PITCH_UM = 100.0
SPOT_DIAMETER_UM = 55.0
POSITION_COLUMNS = ("barcode", "in_tissue", "array_row", "array_col", "pxl_row_in_fullres", "pxl_col_in_fullres")
_IMAGE_SUFFIXES = (".tif", ".tiff", ".jpg", ".jpeg", ".png")


def outs_dir(source: Path) -> Path:
    """The folder holding the matrix: ``source`` itself, or ``source/outs``."""
    if (source / "outs").is_dir() and not (source / "filtered_feature_bc_matrix.h5").exists():
        return source / "outs"
    return source


def read_section(info: SectionInfo) -> Section:
    """Read one Space Ranger output as a :class:`Section` (spots under tissue with counts).

    Raises:
        StbenchError: the source is not a folder, or a file or column above is missing.
    """
    source = Path(info.source)
    if not source.is_dir():
        raise StbenchError(f"Visium source {source} is not a Space Ranger output folder.")
    outs = outs_dir(source)
    sid = info.section or (source.name if source.name != "outs" else source.parent.name)
    what = f"Visium section {sid}"
    barcodes, genes, counts = read_10x_h5(require_file(outs / "filtered_feature_bc_matrix.h5", f"{what}: the matrix"))
    positions = read_positions(outs / "spatial", what)
    scalefactors = read_scalefactors(outs / "spatial" / "scalefactors_json.json", what)
    image = Path(info.image) if info.image else _find_image(source, outs, what)
    require_file(image, f"{what}: the image")

    tissue = positions[positions["in_tissue"] == 1]
    row_of = pd.Series(np.arange(len(barcodes)), index=barcodes)
    unplaced = row_of.index[~row_of.index.isin(positions.index)]
    if len(unplaced):  # the matrix and the positions are from different runs: refuse, never drop spots silently
        raise StbenchError(
            f"{what}: {len(unplaced)} barcode(s) of the matrix (e.g. {unplaced[0]!r}) are not in the tissue positions "
            "file, so the two files are not from the same Space Ranger run."
        )
    keep = tissue.index[tissue.index.isin(row_of.index)]
    if len(keep) == 0:
        raise StbenchError(f"{what}: no barcode of the matrix is under tissue in the tissue positions file.")
    counts = counts[row_of.loc[keep].to_numpy()]
    spots = tissue.loc[keep]
    centres = spots[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(np.float64)
    grid = positions[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(np.float64)
    pixel_size = info.pixel_size_um or pixel_size_from_pitch(grid, PITCH_UM, what)
    diameter_px = scalefactors.get("spot_diameter_fullres")
    diameter = round(float(diameter_px) * pixel_size, 2) if diameter_px else SPOT_DIAMETER_UM
    return Section(
        id=sid,
        technology=TECHNOLOGY,
        barcodes=np.asarray(keep, dtype=str),
        genes=genes,
        counts=counts,
        centres=centres,
        image=image,
        pixel_size_um=float(pixel_size),
        pitch_um=PITCH_UM,
        spot_diameter_um=diameter,
        obs=spots[["in_tissue", "array_row", "array_col"]].reset_index(drop=True),
    )


def read_10x_h5(path: Path) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
    """A 10x feature-barcode matrix: (barcodes (n,) str, gene names (g,) str, csr float32 (n, g)).

    Only features whose ``feature_type`` is ``Gene Expression`` are kept (all when the file has
    no feature types). The file stores genes x barcodes in CSC form, i.e. barcodes x genes CSR.
    """
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise StbenchError(f"{path} is not a readable HDF5 file ({exc}).") from exc
    with f:
        if "matrix" not in f:
            raise StbenchError(f"{path} is not a 10x feature-barcode matrix (it has no 'matrix' group).")
        m = f["matrix"]
        missing = [k for k in ("barcodes", "data", "indices", "indptr", "shape", "features/name") if k not in m]
        if missing:
            raise StbenchError(f"{path} lacks matrix/{missing[0]}, so it is not a complete 10x matrix file.")
        n_genes, n_barcodes = (int(v) for v in m["shape"][()])
        matrix = sp.csr_matrix(
            (np.asarray(m["data"][()], np.float32), m["indices"][()], m["indptr"][()]), shape=(n_barcodes, n_genes)
        )
        barcodes = _strings(m["barcodes"][()])
        names = _strings(m["features/name"][()])
        types = _strings(m["features/feature_type"][()]) if "features/feature_type" in m else None
    if types is not None:
        gene_expression = types == "Gene Expression"
        matrix, names = matrix[:, gene_expression], names[gene_expression]
    matrix.sum_duplicates()
    return barcodes, names, matrix.tocsr()


def _strings(values: np.ndarray) -> np.ndarray:
    # bytes that are not UTF-8 are kept as surrogates, so the section check names them in one sentence
    return np.array(
        [v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else str(v) for v in np.ravel(values)], dtype=str
    )


def read_positions(spatial: Path, what: str) -> pd.DataFrame:
    """The tissue positions (either file), indexed by barcode, with the six standard columns."""
    new, old = spatial / "tissue_positions.csv", spatial / "tissue_positions_list.csv"
    if new.is_file():
        table = pd.read_csv(new)
        path = new
    elif old.is_file():
        table = pd.read_csv(old, header=None)
        if table.shape[1] != len(POSITION_COLUMNS):
            raise StbenchError(f"{what}: {old} has {table.shape[1]} columns, not the six of a positions list.")
        table.columns = list(POSITION_COLUMNS)
        path = old
    else:
        raise StbenchError(f"{what}: neither {new} nor {old} exists.")
    missing = [c for c in POSITION_COLUMNS if c not in table.columns]
    if missing:
        raise StbenchError(f"{what}: {path} lacks the column(s) {', '.join(missing)}.")
    table["barcode"] = table["barcode"].astype(str).str.strip()
    return table.drop_duplicates("barcode").set_index("barcode")


def read_scalefactors(path: Path, what: str) -> dict:
    """``scalefactors_json.json`` as a dict."""
    require_file(path, f"{what}: the scale factors file")
    try:
        return dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError, ValueError) as exc:
        raise StbenchError(f"{what}: {path} is not a JSON object ({exc}).") from exc


def _find_image(source: Path, outs: Path, what: str) -> Path:
    """A single image file in the source (or outs) folder, else one named like the section."""
    for folder in dict.fromkeys((source, outs)):
        images = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES)
        if len(images) == 1:
            return images[0]
    try:
        return find_image(source, [source.name, "image", "fullres"], what)
    except StbenchError:
        several = [p.name for folder in dict.fromkeys((source, outs)) for p in sorted(folder.iterdir())
                   if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES]
        if len(several) > 1:
            raise StbenchError(
                f"{what} has {len(several)} candidate images ({', '.join(several[:4])}) and none is named after the "
                "section; pass the full-resolution one with --image or an image column in the sample sheet."
            ) from None
        raise
