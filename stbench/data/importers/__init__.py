"""``stbench data import``: the formats people keep their own data in -> the HEST-1k layout.

Two formats: ``visium`` (Space Ranger outputs, :mod:`.visium`) and ``st`` (legacy Spatial
Transcriptomics count + alignment tables, :mod:`.legacy_st`). :func:`import_sections` reads
each section, writes ``st/{id}.h5ad`` and ``patches/{id}.h5`` (:mod:`.common`) and adds the
sections to ``metadata.csv``, so the folder can be given to ``stbench run --cohort PATH``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from stbench.data.importers import legacy_st, visium
from stbench.data.importers.common import (
    MAX_PATCH_UM, PATCH_UM, SectionInfo, Track, check_section, merge_duplicate_genes, write_metadata, write_section,
)
from stbench.errors import StbenchError

FORMATS = {"visium": visium.read_section, "st": legacy_st.read_section}
SHEET_COLUMNS = ("source", "section", "patient", "image", "spots", "pixel_size_um")
"""Columns a sample sheet may have; ``source`` is required."""


def section_infos(
    sources: Sequence[str | Path],
    *,
    sections: Sequence[str] = (),
    patients: Sequence[str] = (),
    images: Sequence[str | Path] = (),
    spots: Sequence[str | Path] = (),
    pixel_size_um: float | None = None,
    sheet: Path | None = None,
) -> list[SectionInfo]:
    """One :class:`SectionInfo` per source, from per-source options and an optional sample sheet.

    ``sections``, ``images`` and ``spots`` are empty or hold one value per source (same order);
    ``patients`` is empty, one value for all sources, or one per source. A sample sheet (CSV
    with :data:`SHEET_COLUMNS`; relative paths are relative to the sheet) adds its sources
    after the command line's and gives each of its rows' values; an empty cell is unset.

    Raises:
        StbenchError: no source, option counts that do not match the sources, an unknown sheet
            column, a sheet without ``source``, or a section id used twice.
    """
    n = len(sources)
    for option, values in (("--section", sections), ("--image", images), ("--spots", spots)):
        if values and len(values) != n:
            raise StbenchError(f"{option} was given {len(values)} time(s) for {n} source(s); give it once per source.")
    if patients and len(patients) not in (1, n):
        raise StbenchError(f"--patient was given {len(patients)} times for {n} sources; give it once or once per source.")
    infos = [
        SectionInfo(
            source=Path(src),
            section=sections[i] if sections else None,
            patient=(patients[i] if len(patients) == n else patients[0]) if patients else None,
            image=Path(images[i]) if images else None,
            spots=Path(spots[i]) if spots else None,
            pixel_size_um=pixel_size_um,
        )
        for i, src in enumerate(sources)
    ]
    if sheet is not None:
        infos += _read_sheet(Path(sheet), pixel_size_um)
    if not infos:
        raise StbenchError("No section to import: give at least one SRC or a --sheet.")
    return infos


def _read_sheet(path: Path, pixel_size_um: float | None) -> list[SectionInfo]:
    if not path.is_file():
        raise StbenchError(f"Sample sheet {path} does not exist.")
    table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    table.columns = [c.strip() for c in table.columns]
    if "source" not in table.columns:
        raise StbenchError(f"Sample sheet {path} lacks the column source.")
    unknown = [c for c in table.columns if c not in SHEET_COLUMNS]
    if unknown:
        raise StbenchError(f"Sample sheet {path} has the unknown column {unknown[0]!r} (known: {', '.join(SHEET_COLUMNS)}).")

    def get(row: pd.Series, column: str) -> str | None:
        value = str(row.get(column, "")).strip()
        return value or None

    def file(row: pd.Series, column: str) -> Path | None:
        value = get(row, column)
        return None if value is None else path.parent / value

    infos = []
    for _, row in table.iterrows():
        size = get(row, "pixel_size_um")
        try:
            pixel = float(size) if size is not None else pixel_size_um
        except ValueError as exc:
            raise StbenchError(f"Sample sheet {path}: pixel_size_um {size!r} is not a number.") from exc
        source = file(row, "source")
        if source is None:
            raise StbenchError(f"Sample sheet {path} has a row with an empty source.")
        infos.append(
            SectionInfo(
                source=source,
                section=get(row, "section"),
                patient=get(row, "patient"),
                image=file(row, "image"),
                spots=file(row, "spots"),
                pixel_size_um=pixel,
            )
        )
    return infos


def import_sections(
    fmt: str,
    infos: Sequence[SectionInfo],
    out: Path,
    *,
    organ: str = "unknown",
    species: str = "",
    patch_um: float = PATCH_UM,
    track: Track | None = None,
    on_note: Callable[[str], object] | None = None,
) -> Path:
    """Convert sections of format ``fmt`` (``visium`` or ``st``) into the HEST-layout folder ``out``.

    Every section is read before anything is written, so a bad input leaves ``out`` unchanged;
    then one section at a time is written (its image and counts only in memory). Sections
    whose ids are already in ``out/metadata.csv`` are replaced. Every section is checked first
    (:func:`~stbench.data.importers.common.check_section`: refused when its id is not a plain
    name, its names are not UTF-8, it is empty or its counts are negative or not finite);
    repeated gene names are summed, with a note to ``on_note``. Returns ``out/metadata.csv``.

    Raises:
        StbenchError: unknown format, a section id used twice, a pixel size that is not
            positive, a patch size not in (0, MAX_PATCH_UM], a section refused by its check, or
            any reader error (one sentence naming the file).
    """
    if fmt not in FORMATS:
        raise StbenchError(f"Unknown import format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if not 0 < patch_um <= MAX_PATCH_UM:
        raise StbenchError(f"--patch-um must be positive and at most {MAX_PATCH_UM:g} micrometres, got {patch_um:g}.")
    for info in infos:
        if info.pixel_size_um is not None and not info.pixel_size_um > 0:
            raise StbenchError(f"The pixel size must be positive, got {info.pixel_size_um} for {info.source}.")
    read = FORMATS[fmt]
    track = track or (lambda iterable, description, total: iter(iterable))
    sections = [(read(info), info) for info in track(infos, "Reading sections", len(infos))]
    for i, (section, info) in enumerate(sections):
        check_section(section)
        section, note = merge_duplicate_genes(section)
        sections[i] = (section, info)
        if note and on_note is not None:
            on_note(note)
    ids = [s.id for s, _ in sections]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise StbenchError(f"Section id {twice[0]!r} is used by more than one source; name them with --section.")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise StbenchError(f"--out {out} is a file; give a folder (new or holding imported sections).")
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for section, info in track(sections, "Importing sections", len(sections)):
        row = write_section(section, out, patch_um)
        rows.append({**row, "organ": organ, "species": species, "patient": info.patient or "", "source": _printable(info.source)})
    return write_metadata(rows, out)


def _printable(path: Path) -> str:
    """``path`` as UTF-8 text for metadata.csv (bytes that are not UTF-8 shown as U+FFFD)."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


__all__ = ["FORMATS", "PATCH_UM", "SectionInfo", "import_sections", "section_infos"]
