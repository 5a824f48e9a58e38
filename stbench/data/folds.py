"""The folds of a cohort as ``stbench run`` uses them: the split of a prepared cohort and the
slide ids of each part of a fold after QC.

A named cohort uses its committed split (``splits/<name>.json``, or the QC-derived split its
preparation dealt); a cohort given as a directory gets a seeded donor-grouped split saved beside
its results (``<results>/<name>/split.json``): five folds, or one per group when it has 3 or 4
groups (each group tested once either way).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stbench.data.prepared import PreparedCohort, load_cohort
from stbench.errors import StbenchError
from stbench.protocol.splits import (
    N_FOLDS,
    QC_SPLIT_FILE,
    Split,
    build_split_document,
    check_slides,
    load_split,
    read_split,
    verify_qc_split,
    write_split,
)


def cohort_split(cohort: str, prepared: PreparedCohort, results_dir: Path, split_seed: int) -> tuple[Split, str]:
    """The frozen split of a named cohort, or a split dealt with ``split_seed`` and saved beside a
    directory's results.

    A named cohort whose committed file holds candidates only (STImage: folds dealt after QC)
    gets the split its preparation dealt from the QC-passed slides, checked against the
    candidates and the manifest. Returns the split and where it came from (recorded in results).
    """
    slide_ids = [s.id for s in prepared.slides]
    if not Path(cohort).expanduser().is_dir():
        split = load_split(cohort)
        if split.qc_derived:
            derived = verify_qc_split(split, prepared.path)
            return derived, f"prepared/{prepared.name}/{QC_SPLIT_FILE} (QC-passed slides of splits/{cohort}.json)"
        check_slides(split, slide_ids, prepared.dropped_slides)
        return split, f"splits/{cohort}.json"
    path = results_dir / prepared.name / "split.json"
    meta = prepared.slide_metadata()
    groups = {sid: (meta[sid].get("patient") or sid) for sid in slide_ids}
    n_groups = len(set(groups.values()))
    if n_groups < 3:
        raise StbenchError(
            f"Cohort directory {cohort} has slides from {n_groups} patient(s); a train/val/test split needs at least 3."
        )
    doc = build_split_document(  # fewer groups than five: one fold per group, each tested once
        prepared.name, f"all slides of directory {Path(cohort).resolve()}", groups, seed=split_seed,
        n_folds=min(N_FOLDS, n_groups),
    )
    try:
        current = path.exists() and read_split(path).sha256 == doc["sha256"]
    except StbenchError:  # damaged, or dealt by an older stbench
        current = False
    if not current:
        write_split(path, doc)
    return read_split(path), str(path)



@dataclass(frozen=True)
class FoldData:
    """One fold of a prepared cohort: the slide ids of each part (after QC) and where the split came from."""

    cohort: PreparedCohort
    split: Split
    split_file: str
    fold: int
    train: list[str]
    val: list[str]
    test: list[str]


def load_fold(cohort: str, fold: int, *, root: Path | None = None, results_dir: Path = Path("results"), split_seed: int = 0) -> FoldData:
    """Load (preparing on first use) ``cohort`` and the slide lists of ``fold``, as ``stbench run`` does."""
    prepared = load_cohort(cohort, root)
    split, origin = cohort_split(cohort, prepared, Path(results_dir), split_seed)
    part = split.fold(fold)
    held = {s.id for s in prepared.slides}
    train, val, test = ([s for s in ids if s in held] for ids in (part.train, part.val, part.test))
    if not train or not test:
        raise StbenchError(f"Fold {fold} of cohort {prepared.name!r} has no usable train or test slide after QC.")
    return FoldData(prepared, split, origin, fold, train, val, test)
