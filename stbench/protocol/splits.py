"""Frozen slide-level folds: generation, hashing, verification.

Each cohort has ``splits/<cohort>.json`` with five folds; each fold is a seeded slide-level
70/10/20 train/val/test split (the GenST paper repeats a random split five times). Slides of
one patient stay on one side: groups (patients, or single slides when the metadata names no
patient) are shuffled and dealt to test, then val, then train. The file carries its rule,
seed and the sha256 of its own content; ``stbench splits generate`` rebuilds the committed
files byte for byte from the metadata tables.

Cohorts with a QC applied at preparation (STImage-1K4M's spot-radius QC, which can drop most
slides) commit only their *candidates*: slides, groups, rule and seed, with ``folds_from`` in
place of ``folds``. Preparation deals the folds from the slides that pass QC with the same
algorithm and seed (:func:`qc_split_document`), so 70/10/20 holds on the slides actually used;
the result is ``split.json`` in the prepared folder, its sha256 in the prepared manifest and in
every result, and :func:`verify_qc_split` checks it.
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
    groups: Mapping[str, str], seed: int = SPLIT_SEED, n_folds: int = N_FOLDS
) -> list[dict[str, list[str]]]:
    """Deal slide groups into ``n_folds`` seeded train/val/test splits.

    Args:
        groups: slide id -> group id (patient); slides of one group share a part.
        seed: fold k uses ``numpy.random.default_rng([seed, k])``.

    Returns:
        One dict per fold with sorted slide-id lists under ``train``, ``val``, ``test``.
        Groups are dealt in a seeded random order: to test until it holds ``round(0.2 n)``
        slides, then to val until ``round(0.1 n)`` (at least one slide each when n >= 3), the
        rest (always including the last group) to train. A group that would take test or val
        past 1.5 times its target (at least target + 1) goes to train instead, so a large
        group (a study whose donors are unknown) cannot swamp the test set; if no group fits
        a part, it gets the smallest train group. A fold whose test set repeats an
        earlier fold's is redrawn (up to 100 times), so small cohorts still get five
        different test sets.
    """
    members: dict[str, list[str]] = {}
    for slide, group in sorted(groups.items()):
        members.setdefault(group, []).append(slide)
    n = len(groups)
    target = {part: int(round(FRACTIONS[part] * n)) for part in ("test", "val")}
    if n >= 3:
        target = {part: max(1, t) for part, t in target.items()}
    folds: list[dict[str, list[str]]] = []
    for k in range(n_folds):
        rng = np.random.default_rng([seed, k])
        for _ in range(100):  # redraw a test set that an earlier fold already used
            fold = _deal(rng.permutation(sorted(members)), members, target)
            if all(fold["test"] != f["test"] for f in folds):
                break
        folds.append(fold)
    return folds


def _deal(order: np.ndarray, members: Mapping[str, list[str]], target: Mapping[str, int]) -> dict[str, list[str]]:
    dealt: dict[str, list[str]] = {p: [] for p in PARTS}  # group ids per part, in dealing order
    count = dict.fromkeys(PARTS, 0)
    limit = {p: t + max(1, t // 2) for p, t in target.items()}
    for i, group in enumerate(str(g) for g in order):
        last = i == len(order) - 1  # the last group always trains, so train is never empty
        size = len(members[group])
        fits = (p for p in ("test", "val") if count[p] < target[p] and count[p] + size <= limit[p])
        part = "train" if last else next(fits, "train")
        dealt[part].append(group)
        count[part] += size
    for part in ("test", "val"):  # every group was too large: the smallest train group, first dealt on ties
        if target[part] and not dealt[part] and len(dealt["train"]) > 1:
            smallest = min(dealt["train"][:-1], key=lambda g: len(members[g]))
            dealt["train"].remove(smallest)
            dealt[part].append(smallest)
    return {p: sorted(s for g in dealt[p] for s in members[g]) for p in PARTS}


def build_split_document(
    cohort: str, rule: str, groups: Mapping[str, str], *, seed: int = SPLIT_SEED, extra: Mapping | None = None,
    folds_after_qc: bool = False,
) -> dict:
    """The full split document (with its sha256) for a cohort's slides and groups.

    With ``folds_after_qc`` the document holds the candidates only (``folds_from`` instead of
    ``folds``); :func:`qc_split_document` deals them once QC has run.
    """
    doc: dict = {
        "cohort": cohort,
        "rule": rule,
        "seed": seed,
        "n_folds": N_FOLDS,
        "fractions": FRACTIONS,
        "grouping": "patient when the metadata names one, else the slide alone",
        **(dict(extra) if extra else {}),
        "slides": sorted(groups),
        "groups": dict(sorted(groups.items())),
    }
    if folds_after_qc:
        doc["folds_from"] = FOLDS_FROM_QC
    else:
        doc["folds"] = make_folds(groups, seed)
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
        StbenchError: a slide outside the candidates, or fewer than 3 groups left after QC.
    """
    check_slides(candidates, passed, dropped)
    groups = {s: candidates.groups[s] for s in sorted(passed)}
    n_groups = len(set(groups.values()))
    if n_groups < 3:
        raise StbenchError(
            f"Only {len(groups)} slide(s) of {n_groups} donor group(s) of cohort {candidates.cohort!r} pass QC; "
            "a train/val/test split needs at least 3 groups."
        )
    source = candidates.document
    keep = ("cohort", "rule", "seed", "n_folds", "fractions", "grouping", "qc")
    doc: dict = {k: source[k] for k in keep if k in source}
    doc |= {
        "candidates_sha256": candidates.sha256,
        "n_candidates": len(candidates.slides),
        "qc_dropped": dict(sorted((k, dropped[k]) for k in dropped if k in candidates.groups)),
        "slides": sorted(groups),
        "groups": groups,
        "folds": make_folds(groups, int(source["seed"])),
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
    """Check a split document (hash, partition, groups) and return it parsed."""
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
