"""``stbench data``: download, prepare and inspect cohorts.

    stbench data download --cohort NAME|all|extended|hest-bench [--root DIR] [--revision REV]
    stbench data prepare  --cohort NAME|all|extended|hest-bench|PATH [--root DIR] [--force]
    stbench data status   [--root DIR]
    stbench data import   --format visium|st SRC... --out DIR [--section ID]... [--patient P]...
                          [--image FILE]... [--spots FILE]... [--pixel-size-um F] [--sheet CSV]
                          [--organ O] [--species S] [--patch-um 112]

``all`` means the six paper cohorts, ``extended`` the extended ones, ``hest-bench`` HEST-Benchmark's
tasks. Handlers return an exit code and raise :class:`~stbench.errors.StbenchError` for user errors.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stbench.protocol.cohorts import expand_cohort_names


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``data`` and its sub-commands on the top-level ``subparsers``."""
    data = subparsers.add_parser("data", help="download, prepare and inspect cohorts")
    sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    download = sub.add_parser("download", help="download a named cohort's raw files from the Hugging Face hub")
    download.add_argument("--cohort", required=True, help="a cohort NAME, all (the paper's six), extended or hest-bench")
    download.add_argument("--root", help="data root (default $STBENCH_DATA or ~/.cache/stbench)")
    download.add_argument("--revision", help="hub branch, tag or commit (default: the pinned revision)")
    download.set_defaults(func=cmd_download)

    prepare = sub.add_parser("prepare", help="normalise expression, build the gene panel, index patches")
    prepare.add_argument("--cohort", required=True, help="demo, a cohort NAME, all (the paper's six), extended, hest-bench, or a PATH")
    prepare.add_argument("--root", help="data root (default $STBENCH_DATA or ~/.cache/stbench)")
    prepare.add_argument("--force", action="store_true", help="prepare again even if up to date")
    prepare.set_defaults(func=cmd_prepare)

    status = sub.add_parser("status", help="show what is downloaded and prepared")
    status.add_argument("--root", help="data root (default $STBENCH_DATA or ~/.cache/stbench)")
    status.set_defaults(func=cmd_status)

    imp = sub.add_parser(
        "import",
        help="convert Space Ranger (Visium) or legacy ST sections into a HEST-layout folder for --cohort PATH",
    )
    imp.add_argument("--format", required=True, choices=["visium", "st"], help="visium or st")
    imp.add_argument("sources", nargs="*", metavar="SRC", help="Space Ranger output folders, or ST count tables")
    imp.add_argument("--out", required=True, help="the HEST-layout folder to write (sections are added to it)")
    imp.add_argument("--section", action="append", default=[], help="slide id, once per SRC (default: from SRC)")
    imp.add_argument(
        "--patient", action="append", default=[], help="patient id, once for all or once per SRC (default: none, "
        "so each section is its own group in splits)"
    )
    imp.add_argument("--image", action="append", default=[], help="full-resolution image, once per SRC")
    imp.add_argument("--spots", action="append", default=[], help="st: spot alignment table, once per SRC")
    imp.add_argument(
        "--pixel-size-um", type=float, help="micrometres per image pixel (default: from the spot pitch, "
        "Visium 100 um, ST 200 um)"
    )
    imp.add_argument("--sheet", help="CSV with source[,section,patient,image,spots,pixel_size_um] per section")
    imp.add_argument("--organ", default="unknown", help="organ written to metadata.csv")
    imp.add_argument("--species", default="", help="species written to metadata.csv")
    imp.add_argument("--patch-um", type=float, default=112.0, help="patch side in micrometres (default 112, as HEST)")
    imp.set_defaults(func=cmd_import)
    return data


def _names(cohort: str) -> list[str]:
    return expand_cohort_names(cohort)  # all = the paper's six, extended, hest-bench: see stbench.protocol.cohorts.GROUPS


def _root(args: argparse.Namespace) -> Path | None:
    return Path(args.root) if args.root else None


def cmd_download(args: argparse.Namespace) -> int:
    """``stbench data download``."""
    from stbench.data.hub import download_cohort

    for name in _names(args.cohort):
        path = download_cohort(name, _root(args), revision=args.revision)
        print(f"Downloaded {name} into {path}")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    """``stbench data prepare``."""
    from stbench.data.prepare import prepare_cohort
    from stbench.data.prepared import load_prepared
    from stbench.progress import RichHook, make_progress

    for name in _names(args.cohort):
        with make_progress() as progress:
            path = prepare_cohort(name, _root(args), force=args.force, progress=RichHook(progress))
        cohort = load_prepared(path)
        spots = sum(s.n_spots for s in cohort.slides)
        dropped = f", {len(cohort.dropped_slides)} slides dropped by QC" if cohort.dropped_slides else ""
        print(
            f"Prepared {cohort.name}: {len(cohort.slides)} slides, {spots} spots, "
            f"{len(cohort.genes)} genes{dropped} -> {path}"
        )
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """``stbench data import``."""
    from stbench.data.importers import import_sections, section_infos
    from stbench.progress import RichHook, make_progress

    infos = section_infos(
        args.sources,
        sections=args.section,
        patients=args.patient,
        images=args.image,
        spots=args.spots,
        pixel_size_um=args.pixel_size_um,
        sheet=Path(args.sheet) if args.sheet else None,
    )
    with make_progress() as progress:
        hook = RichHook(progress)
        metadata = import_sections(
            args.format,
            infos,
            Path(args.out),
            organ=args.organ,
            species=args.species,
            patch_um=args.patch_um,
            track=lambda iterable, description, total: iter(hook.track(iterable, description, total)),
            on_note=lambda note: print(f"note: {note}", file=sys.stderr),
        )
    print(f"Imported {len(infos)} section(s) into {metadata.parent}; run it with --cohort {metadata.parent}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """``stbench data status``."""
    from rich.console import Console
    from rich.table import Table

    from stbench.data.inventory import cohort_status
    from stbench.paths import data_root

    table = Table(title=f"cohorts under {data_root(_root(args))}")
    for column in ("cohort", "source", "slides", "downloaded", "prepared", "genes", "spots", "size"):
        numeric = column in ("slides", "genes", "spots", "size")
        table.add_column(column, justify="right" if numeric else "left", no_wrap=column == "cohort")
    for row in cohort_status(_root(args)):
        table.add_row(
            row["name"],
            row["source"],
            _text(row["slides"]),
            row["downloaded"],
            "yes" if row["prepared"] else "no",
            _text(row["n_genes"]),
            _text(row["n_spots"]),
            _size(row["size_bytes"]),
        )
    console = Console()
    if not console.is_terminal:  # piped: do not squeeze the table into 80 columns
        console = Console(width=120)
    console.print(table)
    return 0


def _text(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _size(n_bytes: int) -> str:
    size = float(n_bytes)
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
