"""Frozen slide-level folds: generation, hashing, verification.

Each cohort has ``splits/<cohort>.json`` with five folds; each fold is a seeded slide-level
70/10/20 train/val/test split (the GenST paper repeats a random split five times). Slides of
one patient stay on one side: groups (patients, or single slides when the metadata names no
patient) are shuffled and dealt to test, then val, then train. The file carries its rule,
seed and the sha256 of its own content; ``stbench splits generate`` rebuilds the committed
files byte for byte from the metadata tables.
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


def splits_dir() -> Path:
    """Folder of the committed split files: ``$STBENCH_SPLITS`` or the repository's ``splits/``."""
    env = os.environ.get("STBENCH_SPLITS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "splits"


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

    def fold(self, k: int) -> Fold:
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
        rest (always including the last group) to train. A fold whose test set repeats an
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
    parts: dict[str, list[str]] = {p: [] for p in PARTS}
    for i, group in enumerate(order):
        last = i == len(order) - 1  # the last group always trains, so train is never empty
        part = "train" if last else next((p for p in ("test", "val") if len(parts[p]) < target[p]), "train")
        parts[part].extend(members[str(group)])
    return {p: sorted(parts[p]) for p in PARTS}


def build_split_document(
    cohort: str, rule: str, groups: Mapping[str, str], *, seed: int = SPLIT_SEED, extra: Mapping | None = None
) -> dict:
    """The full split document (with its sha256) for a cohort's slides and groups."""
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
        "folds": make_folds(groups, seed),
    }
    doc["sha256"] = content_sha256(doc)
    return doc


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
        raw_folds = document["folds"]
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
