"""Frozen slide-level folds: generation, hashing, verification.

Each cohort has ``splits/<cohort>.json`` with five folds whose test parts partition the slides:
every slide is tested in exactly one fold, so per-slide scores pair one value per slide and the
folds' test sets are disjoint (the GenST paper repeats a random 70/10/20 split five times; five
independent random splits test some slides several times and others never). Slides of one
patient stay on one side: groups (patients or donors, or single slides when the metadata names
no patient) are dealt whole, each to the test part of one fold; each fold then deals about 10%
of the slides from its other groups to validation and trains on the rest (:func:`make_folds`).
The file carries its rule, seed and the sha256 of its own content; ``stbench splits generate``
rebuilds the committed files byte for byte from the metadata tables.

Cohorts with a QC applied at preparation (STImage-1K4M's spot-radius QC, which can drop most
slides) commit only their *candidates*: slides, groups, rule and seed, with ``folds_from`` in
place of ``folds``. Preparation deals the folds from the slides that pass QC with the same
algorithm and seed (:func:`qc_split_document`), so the partition holds on the slides actually
used; the result is ``split.json`` in the prepared folder, its sha256 in the prepared manifest
and in every result, and :func:`verify_qc_split` checks it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stbench.errors import StbenchError

SPLIT_SEED = 2025
N_FOLDS = 5
FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}
PARTS = ("train", "val", "test")
FOLDS_FROM_QC = "dealt at preparation from the slides that pass QC, with this seed"
FOLD_RULE = (
    "grouped partition: each group (patient or donor) is in the test part of exactly one fold, test parts "
    "balanced in slides; validation dealt from the other groups to the val fraction; training the rest"
)
"""The fold rule in words, recorded in every generated split document."""
QC_SPLIT_FILE = "split.json"
"""Name of the QC-derived split in a prepared cohort's folder."""


def splits_dir() -> Path:
    """Folder of the committed split files: ``$STBENCH_SPLITS`` or the repository's ``splits/``."""
    env = os.environ.get("STBENCH_SPLITS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "splits"


@dataclass(frozen=True)
class Fold:
    """Slide ids of one fold's three parts."""

    index: int
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]


@dataclass(frozen=True)
class Split:
    """A parsed, verified split file."""

    cohort: str
    slides: tuple[str, ...]
    groups: Mapping[str, str]
    folds: tuple[Fold, ...]
    sha256: str
    document: Mapping

    @property
    def qc_derived(self) -> bool:
        """Whether this file holds only candidates, its folds being dealt after QC at preparation."""
        return "folds_from" in self.document

    def fold(self, k: int) -> Fold:
        if self.qc_derived:
            raise StbenchError(
                f"The split file of cohort {self.cohort!r} holds candidates only; its folds are dealt when the "
                "cohort is prepared (use the prepared cohort's split.json)."
            )
        if not 0 <= k < len(self.folds):
            raise StbenchError(f"Cohort {self.cohort!r} has folds 0 to {len(self.folds) - 1}, not {k}.")
        return self.folds[k]


def content_sha256(document: Mapping) -> str:
    """sha256 of the canonical JSON of a split document, without its own ``sha256`` key."""
    body = {k: v for k, v in document.items() if k != "sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def make_folds(
    groups: Mapping[str, str], seed: int = SPLIT_SEED, n_folds: int = N_FOLDS, *, cohort: str = ""
) -> list[dict[str, list[str]]]:
    """Deal slide groups into a grouped ``n_folds``-fold partition: every group tested exactly once.

    Args:
        groups: slide id -> group id (patient or donor); slides of one group share a part.
        seed: the test parts use ``numpy.random.default_rng(seed)``, fold k's validation part
            ``numpy.random.default_rng([seed, k])``.
        n_folds: number of folds; the test parts of the folds partition the slides.
        cohort: the cohort's name, for the error message ("" for an unnamed split).

    Returns:
        One dict per fold with sorted slide-id lists under ``train``, ``val``, ``test``.
        Test parts: the groups, in a seeded random order and then stably by size (slides, largest
        first), each go to the fold whose test part holds the fewest slides so far (fewest
        groups, then lowest index, on ties), so each group is in exactly one fold's test part
        and the test parts hold about ``n / n_folds`` slides each. Validation: fold k deals the
        other groups in a seeded order to val until it holds ``round(0.1 n)`` slides (at least
        one), skipping a group that would take it past 1.5 times that target (at least target +
        1); the rest train, always including the last group dealt. If no group fits, val gets
        the smallest group (first dealt on ties).

    Raises:
        StbenchError: fewer groups than ``max(n_folds, 3)``: some fold would have no test,
            validation or training group.
    """
    members: dict[str, list[str]] = {}
    for slide, group in sorted(groups.items()):
        members.setdefault(group, []).append(slide)
    require_groups(len(members), n_folds, cohort)
    n = len(groups)
    val_target = max(1, int(round(FRACTIONS["val"] * n)))
    order = [str(g) for g in np.random.default_rng(seed).permutation(sorted(members))]
    order.sort(key=lambda g: -len(members[g]))  # stable: the seeded order breaks ties of size
    tested: list[list[str]] = [[] for _ in range(n_folds)]
    for group in order:
        k = min(range(n_folds), key=lambda i: (sum(len(members[g]) for g in tested[i]), len(tested[i]), i))
        tested[k].append(group)
    folds = []
    for k, test in enumerate(tested):
        rest = [str(g) for g in np.random.default_rng([seed, k]).permutation(sorted(set(members) - set(test)))]
        val = _deal_val(rest, members, val_target)
        parts = {"train": [g for g in rest if g not in val], "val": val, "test": test}
        folds.append({p: sorted(s for g in parts[p] for s in members[g]) for p in PARTS})
    return folds


def require_groups(n_groups: int, n_folds: int = N_FOLDS, cohort: str = "") -> None:
    """Refuse a cohort with too few groups for a grouped partition (at least ``max(n_folds, 3)``).

    Each fold needs a test group of its own, plus a validation and a training group beside it.
    """
    if n_groups < max(n_folds, 3):
        what = f"cohort {cohort!r}" if cohort else "this split"
        raise StbenchError(
            f"The slides of {what} fall into {n_groups} group(s) (patients or donors), too few for {n_folds} "
            f"folds that test each group once beside validation and training groups (at least {max(n_folds, 3)})."
        )


def _deal_val(order: list[str], members: Mapping[str, list[str]], target: int) -> list[str]:
    """The groups of ``order`` (dealing order, at least two) that form a fold's validation part."""
    limit = target + max(1, target // 2)
    val, count = [], 0
    for group in order[:-1]:  # the last group always trains, so train is never empty
        size = len(members[group])
        if count < target and count + size <= limit:
            val.append(group)
            count += size
    return val or [min(order[:-1], key=lambda g: len(members[g]))]


def build_split_document(
    cohort: str, rule: str, groups: Mapping[str, str], *, seed: int = SPLIT_SEED, extra: Mapping | None = None,
    folds_after_qc: bool = False, n_folds: int = N_FOLDS,
) -> dict:
    """The full split document (with its sha256) for a cohort's slides and groups.

    With ``folds_after_qc`` the document holds the candidates only (``folds_from`` instead of
    ``folds``); :func:`qc_split_document` deals them once QC has run.

    Raises:
        StbenchError: too few groups for ``n_folds`` folds (:func:`require_groups`); candidates
            are checked again when their folds are dealt after QC.
    """
    doc: dict = {
        "cohort": cohort,
        "rule": rule,
        "seed": seed,
        "n_folds": n_folds,
        "fractions": FRACTIONS,
        "fold_rule": FOLD_RULE,
        "grouping": "patient when the metadata names one, else the slide alone",
        **(dict(extra) if extra else {}),
        "slides": sorted(groups),
        "groups": dict(sorted(groups.items())),
    }
    if folds_after_qc:
        require_groups(len(set(groups.values())), n_folds, cohort)
        doc["folds_from"] = FOLDS_FROM_QC
    else:
        doc["folds"] = make_folds(groups, seed, n_folds, cohort=cohort)
    doc["sha256"] = content_sha256(doc)
    return doc


def qc_split_document(candidates: Split, passed: Sequence[str], dropped: Mapping[str, str]) -> dict:
    """The folds of a candidates-only split, dealt from the slides that passed QC.

    Args:
        candidates: the committed split (``candidates.qc_derived``).
        passed: slide ids the prepared cohort holds.
        dropped: slide id -> why preparation dropped it.

    Returns:
        A split document over ``passed`` with the candidates' rule, seed and groups, the
        candidates file's sha256 and the dropped slides, dealt by :func:`make_folds`.

    Raises:
        StbenchError: a slide outside the candidates, or fewer groups left after QC than folds.
    """
    check_slides(candidates, passed, dropped)
    groups = {s: candidates.groups[s] for s in sorted(passed)}
    source = candidates.document
    keep = ("cohort", "rule", "seed", "n_folds", "fractions", "fold_rule", "grouping", "qc")
    doc: dict = {k: source[k] for k in keep if k in source}
    doc |= {
        "candidates_sha256": candidates.sha256,
        "n_candidates": len(candidates.slides),
        "qc_dropped": dict(sorted((k, dropped[k]) for k in dropped if k in candidates.groups)),
        "slides": sorted(groups),
        "groups": groups,
        "folds": make_folds(groups, int(source["seed"]), int(source["n_folds"]), cohort=candidates.cohort),
    }
    doc["sha256"] = content_sha256(doc)
    return doc


def verify_qc_split(candidates: Split, prepared_dir: Path) -> Split:
    """Check a prepared cohort's QC-derived split against its committed candidates and manifest.

    The split is dealt again from the candidates and the manifest's slides; it must equal the
    prepared ``split.json``, whose sha256 the manifest must record.

    Raises:
        StbenchError: no manifest or split file, or any of them disagreeing.
    """
    prepared_dir = Path(prepared_dir)
    try:
        manifest = json.loads((prepared_dir / "manifest.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError) as exc:
        raise StbenchError(f"{prepared_dir} holds no readable manifest.json; prepare the cohort again.") from exc
    path = prepared_dir / QC_SPLIT_FILE
    if not path.is_file():
        raise StbenchError(f"Prepared cohort {candidates.cohort!r} has no {QC_SPLIT_FILE}; prepare it again.")
    derived = read_split(path)
    expected = qc_split_document(candidates, [e["id"] for e in manifest["slides"]], manifest["dropped_slides"])
    if derived.sha256 != expected["sha256"]:
        raise StbenchError(
            f"The QC-derived split of prepared cohort {candidates.cohort!r} ({path}) is not the one dealt from "
            f"splits/{candidates.cohort}.json and its QC-passed slides; prepare the cohort again."
        )
    if manifest.get("split", {}).get("sha256") != derived.sha256:
        raise StbenchError(
            f"The manifest of prepared cohort {candidates.cohort!r} does not record the sha256 of its {QC_SPLIT_FILE}; "
            "prepare the cohort again."
        )
    return derived


def write_split(path: Path, document: Mapping) -> None:
    """Write a split document deterministically (sorted groups, 1-space indent, trailing newline)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=1, ensure_ascii=True) + "\n")
    tmp.replace(path)


def parse_split(document: Mapping, origin: str) -> Split:
    """Check a split document (hash, partition, groups, every slide tested once) and return it parsed."""
    try:
        slides = tuple(document["slides"])
        groups = dict(document["groups"])
        raw_folds = [] if "folds_from" in document else document["folds"]
        recorded = document["sha256"]
    except (KeyError, TypeError) as exc:
        raise StbenchError(f"Split file {origin} is missing the field {exc}; regenerate it.") from exc
    if content_sha256(document) != recorded:
        raise StbenchError(
            f"Split file {origin} does not match its recorded sha256 (it was edited); "
            "restore it with 'git checkout' or 'stbench splits generate'."
        )
    folds = []
    for k, raw in enumerate(raw_folds):
        fold = Fold(k, *(tuple(raw[p]) for p in PARTS))
        seen = fold.train + fold.val + fold.test
        if sorted(seen) != sorted(slides) or len(set(seen)) != len(seen):
            raise StbenchError(f"Fold {k} of split file {origin} does not partition the cohort's slides.")
        train_groups = {groups[s] for s in fold.train}
        if any(groups[s] in train_groups for s in fold.test):
            raise StbenchError(f"Fold {k} of split file {origin} puts one patient in both train and test.")
        folds.append(fold)
    tested = sorted(s for fold in folds for s in fold.test)
    if folds and tested != sorted(slides):
        raise StbenchError(
            f"The test parts of split file {origin} do not hold every slide exactly once (an older stbench's "
            "folds); regenerate it with 'stbench splits generate', or prepare the cohort again for a prepared split."
        )
    return Split(str(document["cohort"]), slides, groups, tuple(folds), recorded, document)


def read_split(path: Path) -> Split:
    """Read and verify one split file."""
    try:
        document = json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise StbenchError(f"Split file {path} does not exist.") from exc
    except json.JSONDecodeError as exc:
        raise StbenchError(f"Split file {path} is not valid JSON ({exc.msg} at line {exc.lineno}).") from exc
    return parse_split(document, str(path))


def load_split(cohort: str) -> Split:
    """The committed, verified split of a named cohort."""
    return read_split(splits_dir() / f"{cohort}.json")


def check_slides(split: Split, prepared: Sequence[str], dropped: Mapping[str, str]) -> None:
    """Refuse a split whose slide set differs from the prepared cohort's.

    ``prepared`` are the slide ids the prepared cohort holds; ``dropped`` maps slide ids that
    preparation removed (e.g. by QC) to the reason. Every split slide must be one or the other,
    and every prepared slide must be in the split.
    """
    have = set(prepared) | set(dropped)
    missing = sorted(set(split.slides) - have)
    extra = sorted(set(prepared) - set(split.slides))
    if missing or extra:
        what = f"{len(missing)} split slide(s) absent from the data (e.g. {missing[:3]})" if missing else ""
        what += ("; " if missing and extra else "") + (
            f"{len(extra)} prepared slide(s) not in the split (e.g. {extra[:3]})" if extra else ""
        )
        raise StbenchError(f"The split of cohort {split.cohort!r} does not match its prepared data: {what}.")
