"""Reader of legacy Spatial Transcriptomics (ST) sections (the 1,007-spot arrays, 2016-2020).

A source is the section's count table; two more files belong to it::

    <name>.tsv[.gz] or .csv[.gz]   raw counts, spots x genes; the first column holds the array
                                   position ``<x>x<y>`` of each spot (a genes x spots table, with
                                   positions as column names, is transposed automatically)
    spot alignment table           one row per array position: x, y (matching the positions),
                                   pixel_x, pixel_y (spot centre in image pixels), optionally
                                   selected (1 = under tissue; other rows are dropped)
    the H&E image                  the image the pixel coordinates refer to

The alignment table is ``--spots``, else the one file beside the count table whose name holds
the count table's name and ``align`` or ``spot`` (e.g. ``alignment_table_MOB1.tsv`` for
``MOB1.tsv.gz``); the image is ``--image``, else ``<name>.jpg/.png/.tif`` beside it. Without a
given pixel size it is derived from the spot pitch: ST spots are 200 um centre to centre.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from stbench.data.importers.common import Section, SectionInfo, find_image, pixel_size_from_pitch, require_file
from stbench.errors import StbenchError

TECHNOLOGY = "Spatial Transcriptomics"
PITCH_UM = 200.0
SPOT_DIAMETER_UM = 100.0
_POSITION = re.compile(r"^\s*(\d+(?:\.\d+)?)x(\d+(?:\.\d+)?)\s*$")
_TABLE_SUFFIXES = (".tsv", ".csv", ".txt")
_ROW_CHUNK = 1000


def section_name(count_table: Path) -> str:
    """The count table's name without ``.gz`` and its table suffix (``MOB1.tsv.gz`` -> ``MOB1``)."""
    name = count_table.name
    if name.endswith(".gz"):
        name = name[:-3]
    for suffix in _TABLE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def read_section(info: SectionInfo) -> Section:
    """Read one legacy ST section as a :class:`Section` (selected spots that have counts).

    Raises:
        StbenchError: a missing file or column, or no spot of the count table in the alignment table.
    """
    table = require_file(Path(info.source), "Legacy ST count table")
    name = section_name(table)
    sid = info.section or name
    what = f"ST section {sid}"
    alignment = Path(info.spots) if info.spots else _find_alignment(table, name, what)
    image = Path(info.image) if info.image else find_image(table.parent, [name], what)
    require_file(image, f"{what}: the image")
    spots = read_alignment(require_file(alignment, f"{what}: the spot alignment table"), what)
    positions, genes, counts = read_count_table(table, what)

    key = pd.Index([f"{x:g}x{y:g}" for x, y in positions])
    aligned = spots.reindex(key)
    usable = aligned["pixel_x"].notna().to_numpy()
    if "selected" in aligned.columns:
        usable &= aligned["selected"].fillna(0).to_numpy() == 1
    if not usable.any():
        raise StbenchError(f"{what}: no spot of {table.name} is a selected spot of {alignment.name}.")
    spots_used = aligned[usable]
    pixel_size = info.pixel_size_um or pixel_size_from_pitch(
        spots[["pixel_x", "pixel_y"]].to_numpy(np.float64), PITCH_UM, what
    )
    obs = pd.DataFrame(
        {
            "in_tissue": np.ones(int(usable.sum()), np.int64),
            "array_x": positions[usable, 0],
            "array_y": positions[usable, 1],
        }
    )
    return Section(
        id=sid,
        technology=TECHNOLOGY,
        barcodes=np.asarray(key[usable], dtype=str),
        genes=genes,
        counts=counts[np.flatnonzero(usable)],
        centres=spots_used[["pixel_x", "pixel_y"]].to_numpy(np.float64),
        image=image,
        pixel_size_um=float(pixel_size),
        pitch_um=PITCH_UM,
        spot_diameter_um=SPOT_DIAMETER_UM,
        obs=obs,
    )


def read_alignment(path: Path, what: str) -> pd.DataFrame:
    """The spot alignment table indexed by ``<x>x<y>``: float columns pixel_x, pixel_y[, selected]."""
    table = pd.read_csv(path, sep=None, engine="python")
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in ("x", "y", "pixel_x", "pixel_y") if c not in table.columns]
    if missing:
        raise StbenchError(f"{what}: the spot alignment table {path} lacks the column(s) {', '.join(missing)}.")
    index = [f"{float(x):g}x{float(y):g}" for x, y in zip(table["x"], table["y"])]
    kept = [c for c in ("pixel_x", "pixel_y", "selected") if c in table.columns]
    out = table[kept].astype(np.float64)
    out.index = pd.Index(index)
    return out[~out.index.duplicated()]


def read_count_table(path: Path, what: str) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
    """A count table as (positions (n, 2) float64 array x, y; genes (g,) str; csr float32 (n, g)).

    Read :data:`_ROW_CHUNK` rows at a time and made sparse chunk by chunk. Tab-separated unless
    the name says ``.csv``.
    """
    sep = "," if ".csv" in path.name else "\t"
    blocks, labels = [], []
    try:
        reader = pd.read_csv(path, sep=sep, index_col=0, chunksize=_ROW_CHUNK)
        for chunk in reader:
            labels += [str(i) for i in chunk.index]
            try:
                blocks.append(sp.csr_matrix(chunk.to_numpy(dtype=np.float32)))
            except ValueError as exc:
                raise StbenchError(f"{what}: the count table {path} holds a value that is not a number.") from exc
            columns = [str(c) for c in chunk.columns]
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise StbenchError(f"{what}: the count table {path} cannot be read as a table ({exc}).") from exc
    if not blocks:
        raise StbenchError(f"{what}: the count table {path} has no rows.")
    matrix = sp.vstack(blocks, format="csr")
    if all(_POSITION.match(s) for s in labels):
        positions, genes = labels, columns
    elif all(_POSITION.match(s) for s in columns):
        positions, genes, matrix = columns, labels, matrix.T.tocsr()
    else:
        raise StbenchError(
            f"{what}: neither the rows nor the columns of {path} are spot positions like '10x12', "
            "so it is not a legacy ST count table."
        )
    xy = np.array([[float(v) for v in _POSITION.match(s).groups()] for s in positions], dtype=np.float64)
    data = matrix.data
    if np.any(data < 0) or np.any(np.floor(data) != data):
        raise StbenchError(f"{what}: the count table {path} holds negative or non-integer values, not raw counts.")
    return xy, np.asarray(genes, dtype=str), matrix


def _find_alignment(table: Path, name: str, what: str) -> Path:
    candidates = sorted(
        p
        for p in table.parent.iterdir()
        if p.is_file() and p != table and name in p.name and re.search("align|spot", p.name, re.IGNORECASE)
    )
    if len(candidates) != 1:
        found = "none" if not candidates else ", ".join(p.name for p in candidates)
        raise StbenchError(
            f"{what}: expected one spot alignment table named like *{name}* with 'align' or 'spot' beside "
            f"{table.name} (found {found}); pass it with --spots."
        )
    return candidates[0]
