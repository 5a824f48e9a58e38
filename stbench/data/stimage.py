"""Reader of the STImage-1K4M layout, converted slide by slide to the HEST-1k layout.

Layout (a hub snapshot of ``jiawennnn/STimage-1K4M``, or a user's own directory)::

    {tech}/image/{slide}.png          H&E image; really png, jpg or tiff whatever the extension
    {tech}/coord/{slide}_coord.csv    unnamed spot-id column, then yaxis, xaxis, r (image px)
    {tech}/gene_exp/{slide}_count.csv spots x genes raw counts, spot ids in the first column
    meta/*.csv                        optional: slide, species, tissue, tech, ...

with ``tech`` one of ``ST``, ``Visium``, ``VisiumHD``. :func:`convert_slides` writes each slide
as ``st/{slide}.h5ad`` (counts; obsm["spatial"] = (x, y) centres) and ``patches/{slide}.h5``
(crops of the square (x-r, y-r, x+r, y+r), white outside the image, resized bilinearly to
224 x 224; ``coords`` = top-left (x-r, y-r)), plus a ``metadata.csv``, so the HEST reader
does the rest. Slides whose spot radius is below the technology's minimum are not converted
(pixel-radius QC, paper section 3.1).
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from stbench.data import crops
from stbench.data.hest_layout import write_counts_h5ad as write_h5ad
from stbench.data.hest_layout import write_metadata_table, write_patch_file
from stbench.data.spots import PATCH_SIZE
from stbench.errors import StbenchError
from stbench.protocol.cohorts import PAPER_COHORTS

TECHS = ("ST", "Visium", "VisiumHD")
MIN_RADIUS_PX: dict[str, float] = {
    c.technology: float(c.min_radius_px) for c in PAPER_COHORTS if c.source == "stimage" and c.min_radius_px
}
"""Pixel-radius QC per technology (ST >= 64 px, Visium >= 32 px), from the paper cohorts."""
_CSV_CHUNK = 1000  # count-matrix rows parsed at a time


def is_stimage_dir(directory: Path) -> bool:
    """Whether ``directory`` looks like an STImage-layout cohort (has ``{tech}/coord/``)."""
    return any((directory / tech / "coord").is_dir() for tech in TECHS)


@dataclass(frozen=True)
class StimageSlide:
    """One STImage slide and its three files."""

    slide: str
    tech: str
    image: Path | None
    coord: Path
    counts: Path

    @property
    def files(self) -> tuple[Path, ...]:
        return tuple(p for p in (self.image, self.coord, self.counts) if p is not None)


def find_image(directory: Path, tech: str, slide: str) -> Path | None:
    """``{tech}/image/{slide}.*`` (any extension), or ``None``."""
    matches = sorted(p for p in (directory / tech / "image").glob(f"{_glob_escape(slide)}.*") if p.is_file())
    return matches[0] if matches else None


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def stimage_slide(directory: Path, tech: str, slide: str) -> StimageSlide:
    """The files of one slide (paths may not exist; see :func:`check_files`)."""
    return StimageSlide(
        slide=slide,
        tech=tech,
        image=find_image(directory, tech, slide),
        coord=directory / tech / "coord" / f"{slide}_coord.csv",
        counts=directory / tech / "gene_exp" / f"{slide}_count.csv",
    )


def list_slides(directory: Path) -> list[StimageSlide]:
    """Every slide with a coord file in ``directory``, sorted by technology then name."""
    slides = []
    for tech in TECHS:
        for coord in sorted((directory / tech / "coord").glob("*_coord.csv")):
            slides.append(stimage_slide(directory, tech, coord.name[: -len("_coord.csv")]))
    return slides


def check_files(directory: Path, slides: Iterable[StimageSlide]) -> None:
    """Refuse slides whose image, coord or count file is missing."""
    for s in slides:
        if s.image is None:
            raise StbenchError(f"Slide {s.slide} has no image {s.tech}/image/{s.slide}.* in {directory}.")
        for path in (s.coord, s.counts):
            if not path.is_file():
                raise StbenchError(f"Slide {s.slide} is missing {path.relative_to(directory)} in {directory}.")


def read_meta(directory: Path) -> pd.DataFrame:
    """The slide table from ``meta/*.csv`` (indexed by slide; empty when there is none)."""
    for path in sorted((directory / "meta").glob("*.csv")):
        table = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
        if "slide" in table.columns:
            return table.drop_duplicates("slide").set_index("slide")
    return pd.DataFrame(columns=["species", "tissue", "tech"])


def read_coords(path: Path) -> pd.DataFrame:
    """A coord csv as a frame indexed by spot id (str, first occurrence kept) with float columns
    x, y, r (image px)."""
    table = pd.read_csv(path, index_col=0)
    missing = [c for c in ("yaxis", "xaxis", "r") if c not in table.columns]
    if missing:
        raise StbenchError(f"Coordinate file {path} lacks the column(s) {', '.join(missing)}.")
    table.index = table.index.astype(str).str.strip()
    table = table[~table.index.duplicated()]
    return pd.DataFrame({"x": table["xaxis"], "y": table["yaxis"], "r": table["r"]}, dtype=np.float64)


def spot_radius(coords: pd.DataFrame) -> float:
    """The slide's spot radius in image pixels (median of ``r``)."""
    r = coords["r"].to_numpy()
    r = r[np.isfinite(r)]
    return float(np.median(r)) if len(r) else float("nan")


def qc_reason(radius: float, tech: str, min_radius: Mapping[str, float]) -> str | None:
    """Why a slide fails the pixel-radius QC (e.g. ``"radius 54.3 px < 64 px"``), or ``None``."""
    limit = min_radius.get(tech)
    if limit is None:
        return None
    if not radius >= limit:
        return f"radius {radius:.1f} px < {limit:g} px"
    return None


Track = Callable[[Iterable, str, int], Iterator]
"""Wraps a per-slide loop for progress display: (iterable, description, total) -> iterator."""


def convert_slides(
    directory: Path,
    slides: list[StimageSlide],
    out: Path,
    min_radius: Mapping[str, float],
    track: Track,
) -> dict[str, str]:
    """Convert slides to the HEST layout under ``out``; returns QC-dropped slide -> reason.

    Writes ``out/metadata.csv`` (id, st_technology, organ, species, patient) for the slides
    kept, ``out/st/{slide}.h5ad`` and ``out/patches/{slide}.h5``. Memory holds one slide's
    image and counts at a time.
    """
    check_files(directory, slides)
    meta = read_meta(directory)
    (out / "st").mkdir(parents=True, exist_ok=True)
    (out / "patches").mkdir(parents=True, exist_ok=True)
    dropped: dict[str, str] = {}
    rows = []
    for s in track(slides, "Converting STImage slides", len(slides)):
        coords = read_coords(s.coord)
        reason = qc_reason(spot_radius(coords), s.tech, min_radius)
        if reason is not None:
            dropped[s.slide] = reason
            continue
        write_counts_h5ad(s.counts, coords, out / "st" / f"{s.slide}.h5ad")
        assert s.image is not None  # check_files
        write_patches(s.image, coords, out / "patches" / f"{s.slide}.h5")
        info = meta.loc[s.slide] if s.slide in meta.index else {}
        rows.append(
            {
                "id": s.slide,
                "st_technology": s.tech,
                "organ": info.get("tissue", "") or "unknown",
                "species": info.get("species", ""),
                "patient": "",
            }
        )
    write_metadata_table(out, rows, ["id", "st_technology", "organ", "species", "patient"])
    return dropped


def read_count_csv(path: Path) -> tuple[np.ndarray, list[str], sp.csr_matrix]:
    """A spots x genes count csv: (spot ids (n,) str, gene names as written, csr float32 (n, g)).

    Parsed :data:`_CSV_CHUNK` rows at a time with numpy's C csv reader (pandas is slow on
    30,000 columns); each chunk is made sparse at once, so a 20k x 30k file never exists dense.
    Header names are taken verbatim (pandas would rename duplicates).
    """
    with open(path, encoding="utf-8-sig") as fh:
        header = next(csv.reader([fh.readline()]), None)
        if not header or len(header) < 2:
            raise StbenchError(f"Count file {path} has no header row of gene names.")
        columns = range(1, len(header))
        ids: list[str] = []
        blocks = []
        while lines := [line for line in itertools.islice(fh, _CSV_CHUNK) if line.strip()]:
            try:
                values = np.loadtxt(lines, delimiter=",", quotechar='"', dtype=np.float32, usecols=columns, ndmin=2)
            except ValueError as exc:
                raise StbenchError(f"Count file {path} holds a row that is not all numbers ({exc}).") from exc
            ids += [_first_field(line) for line in lines]
            blocks.append(sp.csr_matrix(values))
    matrix = sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix((0, len(columns)), dtype=np.float32)
    return np.array(ids, dtype=str), [g.strip() for g in header[1:]], matrix


def _first_field(line: str) -> str:
    if line.startswith('"'):
        return next(csv.reader([line]))[0].strip()
    return line.split(",", 1)[0].strip()


def write_counts_h5ad(count_csv: Path, coords: pd.DataFrame, out: Path) -> None:
    """Write a slide's counts as an h5ad: X csr float32; obsm["spatial"] (x, y), NaN without coords."""
    spot_ids, genes, matrix = read_count_csv(count_csv)
    centres = coords.reindex(spot_ids)[["x", "y"]].to_numpy(dtype=np.float64)
    write_h5ad(out, matrix, spot_ids, genes, centres)


def write_patches(image_path: Path, coords: pd.DataFrame, out: Path) -> None:
    """Crop every spot with finite coordinates and a positive radius into ``out`` (HEST patch layout).

    ``img`` uint8 (N, 224, 224, 3) (:mod:`stbench.data.crops`: the square (x - r, y - r, x + r,
    y + r), white outside the image, resized bilinearly), ``barcode`` (N, 1) bytes, ``coords``
    (N, 2) float64 top-left (x - r, y - r) with attribute ``patch_size_level0`` = median 2r. The
    image is decoded once; blocks of patches are resampled on all CPUs while earlier ones are
    written.
    """
    spots = coords[np.isfinite(coords.to_numpy()).all(axis=1) & (coords["r"] > 0)]
    pixels = crops.image_array(image_path)
    xyr = spots[["x", "y", "r"]].to_numpy()
    side = float(np.median(2 * xyr[:, 2])) if len(spots) else float(PATCH_SIZE)
    write_patch_file(
        out, spots.index, xyr[:, :2] - xyr[:, 2:3], crops.patch_blocks(pixels, xyr),
        coords_attrs={"patch_size_level0": side},
    )
