"""Preparation of a cohort: raw slides -> panel expression, spot tables and a manifest.

``prepare_cohort(cohort)`` accepts ``"demo"``, a named cohort (raw data downloaded by
``stbench data download``) or the path of a directory in the HEST-1k or STImage-1K4M layout,
and writes ``<root>/prepared/<name>/``::

    manifest.json     everything below, plus the rules, inputs and per-slide counts (written last)
    genes.txt         the panel, one harmonised gene name per line, sorted
    gene_names.tsv    panel genes whose stored spelling differs: name <TAB> spellings seen
    expr/{id}.npy     float32 (n_spots, n_genes): log1p(count / spot_total * 1e4) on the panel
    spots/{id}.npz    barcodes (n_spots,) str; coords float32 (n_spots, 2) spot centres (x, y)
                      in full-resolution px; patch_rows int64 (n_spots,) rows of patches/{id}.h5
    counts/{id}.npz   the raw counts behind expr/{id}.npy (for the split-half ceiling,
                      :mod:`stbench.metrics.ceiling`): int32 csr (n_spots, n_genes) on the panel
                      (``data``, ``indices``, ``indptr``, ``shape``) and ``other`` int64 (n_spots,),
                      each spot's total count over the slide's genes off the panel. Folders
                      prepared before it existed lack it; nothing else reads it, so no other file
                      or hash depends on it
    hest_layout/      STImage cohorts only: the slides converted to the HEST-1k layout
    split.json        named STImage cohorts only: the folds dealt from the slides that passed
                      QC (see :func:`stbench.protocol.splits.qc_split_document`); its sha256 is the
                      manifest's ``split.sha256``

Patches stay in the HEST-layout directory's ``patches/{id}.h5`` (the raw snapshot, or
``hest_layout/``) and are read lazily. Slides are processed one at a time, twice: pass 1 reads
each slide for its genes, HVGs and HEGs; pass 2 writes its expression on the finished panel.
Everything is written into a temporary folder that replaces the prepared folder only when
complete, so a failure never leaves a half-prepared cohort. A prepared folder is reused while
its manifest matches the cohort and the raw files' sizes and modification times.

A cohort whose split file carries a published gene panel (``genes``: the HEST-Benchmark
cohorts) is prepared on that panel (harmonised, sorted) instead of the panel rule; pass 1 then
only counts the common genes.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from stbench.data import hest, prepared_files, stimage
from stbench.data.hub import missing_slides, raw_dir, recorded_revision
from stbench.data.panel import SlideGenes, build_panel, harmonise_gene_name, normalise_log1p, panel_sha256, slide_genes
from stbench.data.prepared import SCHEMA_VERSION, PreparedCohort, load_prepared, local_name
from stbench.errors import StbenchError
from stbench.paths import data_root, prepared_dir
from stbench.protocol.cohorts import COHORTS, get_cohort
from stbench.protocol.splits import QC_SPLIT_FILE, load_split, qc_split_document, write_split

if TYPE_CHECKING:
    from stbench.predictor import ProgressHook


@dataclass(frozen=True)
class _Plan:
    """What to prepare: resolved from the ``cohort`` argument before anything is written."""

    name: str
    source: str
    source_dir: Path
    hest_slides: tuple[hest.SlideSource, ...] = ()
    stimage_slides: tuple[stimage.StimageSlide, ...] = ()
    min_radius: dict[str, float] = field(default_factory=dict)
    revision: str | None = None
    genes: tuple[str, ...] = ()
    """A published panel (harmonised, sorted) that replaces the panel rule; empty for the rule."""

    def inputs(self) -> dict[str, list[int]]:
        """Raw files -> [size, mtime_ns]: a prepared folder is current while this is unchanged."""
        if self.stimage_slides:
            files = [*sorted((self.source_dir / "meta").glob("*.csv"))]
            files += [p for s in self.stimage_slides for p in s.files]
        else:
            files = [hest.find_metadata(self.source_dir)]
            files += [p for s in self.hest_slides for p in (s.h5ad, s.patches)]
        out = {}
        for path in files:
            stat = path.stat()
            out[str(path.relative_to(self.source_dir))] = [stat.st_size, stat.st_mtime_ns]
        return out


def prepare_cohort(
    cohort: str, root: Path | None = None, *, force: bool = False, progress: ProgressHook | None = None,
    announce: Callable[[str], object] | None = None,
) -> Path:
    """Prepare a cohort (once) and return its prepared folder.

    Args:
        cohort: ``"demo"``, a named cohort, or the path of a HEST- or STImage-layout directory.
        root: data root (default :func:`stbench.paths.data_root`).
        force: prepare again even if a current prepared folder exists.
        progress: optional object with ``track(iterable, description, total)`` (a
            :class:`stbench.predictor.ProgressHook`) wrapped around the per-slide loops.
        announce: called with one sentence before the cohort is (re)built, not when the
            prepared folder is current.

    Raises:
        StbenchError: unknown cohort, raw data not downloaded, not a cohort directory, or bad
            input in a slide (normalised counts, mismatched barcodes, missing files).
    """
    plan = _plan(cohort, root)
    out = prepared_dir(plan.name, root)
    prepared = out.parent
    inputs = plan.inputs()
    if force or not _is_current(out, plan, inputs):
        if announce is not None:
            announce(f"preparing cohort {cohort} into {out} (once; later runs reuse it)")
        prepared.mkdir(parents=True, exist_ok=True)
        tmp = prepared / f".{plan.name}.tmp-{uuid.uuid4().hex[:8]}"
        try:
            _build(plan, inputs, tmp, _tracker(progress))
            _install(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if plan.source == "stimage":
        _ensure_qc_split(out, plan.name)
    return out


def _ensure_qc_split(out: Path, cohort: str) -> None:
    """Deal a named STImage cohort's folds from its QC-passed slides into ``out/split.json``.

    The split follows the committed candidates (``splits/<cohort>.json``), so it is dealt again
    whenever they change; the manifest records its sha256 (rewritten atomically).
    """
    candidates = load_split(cohort)
    if not candidates.qc_derived:
        return
    manifest = json.loads((out / "manifest.json").read_text())
    doc = qc_split_document(candidates, [e["id"] for e in manifest["slides"]], manifest["dropped_slides"])
    record = {"file": QC_SPLIT_FILE, "sha256": doc["sha256"], "candidates_sha256": candidates.sha256}
    if manifest.get("split") == record and (out / QC_SPLIT_FILE).is_file():
        return
    write_split(out / QC_SPLIT_FILE, doc)
    manifest["split"] = record
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    tmp.replace(out / "manifest.json")


def prepare_and_load(
    cohort: str, root: Path | None = None, *, progress: ProgressHook | None = None,
    announce: Callable[[str], object] | None = None,
) -> PreparedCohort:
    """Prepare ``cohort`` if its prepared folder is missing or stale (:func:`prepare_cohort`), then
    load it: what ``stbench run`` does, explicitly, before it computes any cell."""
    return load_prepared(prepare_cohort(cohort, root, progress=progress, announce=announce))


# ---------------------------------------------------------------------------------------
# Planning


def _plan(cohort: str, root: Path | None) -> _Plan:
    if cohort in COHORTS:
        spec = COHORTS[cohort]
        if spec.source == "demo":
            from stbench.data.builtin import ensure_builtin

            directory = ensure_builtin(cohort, data_root(root)).resolve()
            return _Plan(cohort, "demo", directory, hest_slides=tuple(hest.read_slide_table(directory)))
        split = load_split(cohort)
        slides = split.slides
        raw = raw_dir(spec.source, root).resolve()
        missing = missing_slides(spec, raw, slides)
        if missing:
            tables = [m for m in missing if m not in slides]
            what = f"{len(missing) - len(tables)} of {len(slides)} slides" + (" and the metadata table" if tables else "")
            raise StbenchError(
                f"The raw data of cohort {cohort} is not downloaded ({what} missing in {raw}); "
                f"run `stbench data download --cohort {cohort}`."
            )
        revision = recorded_revision(raw, cohort)
        if spec.source == "hest":
            published = split.document.get("genes") or ()
            return _Plan(
                cohort, "hest", raw, hest_slides=tuple(hest.read_slide_table(raw, slides)), revision=revision,
                genes=tuple(sorted({harmonise_gene_name(g) for g in published})),
            )
        return _Plan(
            cohort,
            "stimage",
            raw,
            stimage_slides=tuple(stimage.stimage_slide(raw, spec.technology, s) for s in slides),
            min_radius={spec.technology: float(spec.min_radius_px)} if spec.min_radius_px else {},
            revision=revision,
        )
    path = Path(cohort).expanduser()
    if not path.exists():
        if "/" in cohort or "\\" in cohort or cohort.startswith((".", "~")):
            raise StbenchError(f"Directory {cohort} does not exist.")
        get_cohort(cohort)  # raises the 'unknown cohort, did you mean' error
    directory = path.resolve()
    if not directory.is_dir():
        raise StbenchError(f"{cohort} is a file; give a cohort name or a directory in the HEST-1k or STImage layout.")
    if hest.is_hest_dir(directory) and hest.find_metadata(directory) is not None:
        return _Plan(local_name(directory), "local", directory, hest_slides=tuple(hest.read_slide_table(directory)))
    if stimage.is_stimage_dir(directory):
        slides = stimage.list_slides(directory)
        if not slides:
            raise StbenchError(f"Directory {directory} has no {{tech}}/coord/*_coord.csv file, so no STImage slide.")
        stimage.check_files(directory, slides)
        return _Plan(
            local_name(directory),
            "local",
            directory,
            stimage_slides=tuple(slides),
            min_radius=dict(stimage.MIN_RADIUS_PX),
        )
    raise StbenchError(_not_a_cohort(directory))


def _not_a_cohort(directory: Path) -> str:
    parts = {"metadata.csv": hest.find_metadata(directory) is not None}
    parts |= {"st/": (directory / "st").is_dir(), "patches/": (directory / "patches").is_dir()}
    if any(parts.values()):
        lacking = " and ".join(k for k, present in parts.items() if not present)
        return f"Directory {directory} is not a complete HEST-1k cohort directory: it lacks {lacking}."
    return (
        f"Directory {directory} is not a cohort directory: it has neither metadata.csv, st/ and patches/ "
        "(HEST-1k layout) nor ST/, Visium/ or VisiumHD/ with coord/ (STImage-1K4M layout)."
    )


def _is_current(out: Path, plan: _Plan, inputs: dict[str, list[int]]) -> bool:
    try:
        manifest = json.loads((out / "manifest.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    return (
        manifest.get("schema_version") == SCHEMA_VERSION
        and manifest.get("cohort") == plan.name
        and manifest.get("source_dir") == str(plan.source_dir)
        and manifest.get("revision") == plan.revision
        and manifest.get("inputs") == inputs
        and (not plan.genes or manifest.get("panel_sha256") == panel_sha256(plan.genes))
    )


def _tracker(progress: ProgressHook | None) -> stimage.Track:
    if progress is None:
        return lambda iterable, description, total: iter(iterable)
    return lambda iterable, description, total: iter(progress.track(iterable, description, total))


# ---------------------------------------------------------------------------------------
# Building


def _build(plan: _Plan, inputs: dict[str, list[int]], out: Path, track: stimage.Track) -> None:
    dropped_slides: dict[str, str] = {}
    if plan.stimage_slides:
        hest_dir, hest_dir_entry = out / "hest_layout", "hest_layout"
        dropped_slides = stimage.convert_slides(
            plan.source_dir, list(plan.stimage_slides), hest_dir, plan.min_radius, track
        )
        sources = hest.read_slide_table(hest_dir)
        if not sources:
            first = next(iter(dropped_slides.items()))
            raise StbenchError(
                f"No slide of cohort {plan.name} passed the pixel-radius QC (all {len(dropped_slides)} dropped, "
                f"e.g. {first[0]}: {first[1]})."
            )
    else:
        hest_dir, hest_dir_entry = plan.source_dir, str(plan.source_dir)
        sources = list(plan.hest_slides)
    if not sources:
        raise StbenchError(f"Cohort {plan.name} has no slides in {plan.source_dir}.")

    # Pass 1: each slide's genes, HVGs and HEGs (only its genes for a published panel).
    per_slide: list[SlideGenes] = []
    slide_gene_sets: list[frozenset[str]] = []
    spellings: dict[str, set[str]] = {}
    for src in track(sources, "Selecting genes", len(sources)):
        joined = hest.read_slide(src)
        slide_gene_sets.append(frozenset(joined.genes))
        for name, original in joined.original_names.items():
            spellings.setdefault(name, set()).add(original)
        logx = None if plan.genes else normalise_log1p(joined.counts)
        genes = joined.genes
        del joined  # only the normalised matrix stays in memory for the HVG computation
        if logx is not None:
            per_slide.append(slide_genes(logx, genes))
            del logx
    panel = plan.genes or build_panel(per_slide)
    common = frozenset.intersection(*slide_gene_sets)

    # Pass 2: expression on the panel, spot tables, hashes.
    (out / "expr").mkdir(parents=True, exist_ok=True)
    (out / "spots").mkdir(parents=True, exist_ok=True)
    (out / "counts").mkdir(parents=True, exist_ok=True)
    position = {g: i for i, g in enumerate(panel)}
    entries = [
        {"id": src.id, **src.metadata(), **prepared_files.write_slide(out, src.id, hest.read_slide(src), src.patches, position)}
        for src in track(sources, "Writing expression", len(sources))
    ]

    (out / "genes.txt").write_text("".join(f"{g}\n" for g in panel))
    renamed = {g: sorted(spellings[g]) for g in panel if g in spellings}
    (out / "gene_names.tsv").write_text("".join(f"{g}\t{','.join(v)}\n" for g, v in renamed.items()))
    manifest = prepared_files.manifest(
        cohort=plan.name, source=plan.source, revision=plan.revision, source_dir=plan.source_dir,
        published_panel=bool(plan.genes), min_radius=plan.min_radius, inputs=inputs, hest_dir=hest_dir_entry,
        panel=panel, n_common=len(common), entries=entries, dropped_slides=dropped_slides, n_renamed=len(renamed),
    )
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


def _install(tmp: Path, out: Path) -> None:
    """Put the finished ``tmp`` folder at ``out``, replacing an older one."""
    if not out.exists():
        tmp.rename(out)
        return
    old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
    out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)


