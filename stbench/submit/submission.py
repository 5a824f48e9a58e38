"""Leaderboard submissions: ``leaderboard/submissions/<name>/`` = ``card.toml`` + ``results/``.

``results/`` is a results folder as ``stbench run`` / ``stbench score`` write it, holding one
model (named ``<name>``), its result documents ``<cohort>/<name>/fold<k>.json`` and, beside each,
the predictions folder it names (``fold<k>/predictions-<sha256[:16]>/<slide>.npz``, float16
spots x genes, log1p). Nothing else: no logs, checkpoints or model artefacts.

* :func:`assemble` (``stbench submit``) copies exactly that from a results folder, with the
  card, refusing links and files over the size limits, then validates the copy;
* :func:`validate_submission` (``stbench validate --submission``) returns every problem, one
  sentence each: the card (:mod:`stbench.submit.card`), the layout and sizes, every result as
  :func:`stbench.submit.validate.validate` checks a results folder (schema, split hashes, slides,
  metrics recomputed from the predictions where the cohort is prepared), and the predictions'
  shapes and names against the result (which needs no prepared cohort);
* :func:`stbench.report.markdown.submission_rows` renders a submission's rows (the CI job summary).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from stbench.errors import StbenchError
from stbench.results import document as results
from stbench.submit.card import CARD_NAME, read_card

RESULTS = "results"
MAX_FILE_BYTES = 50 * 1024**2
"""Largest file of a submission (bytes; GitHub warns above 50 MiB)."""
MAX_SUBMISSION_BYTES = 200 * 1024**2
"""Largest submission, every file together (bytes)."""
ALLOWED = {CARD_NAME, RESULTS, "README.md"}


def submission_folders(folder: Path) -> list[Path]:
    """The submissions under ``folder`` (``leaderboard/submissions``): sub-folders holding a card."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and (p / CARD_NAME).is_file())


def needed_files(results_dir: Path) -> tuple[list[Path], list[str]]:
    """(files the leaderboard needs from ``results_dir``, problems): each result document and the
    ``.npz`` files of the predictions folder it names."""
    found, problems = results.scan_results(results_dir)
    files: list[Path] = []
    for item in found:
        files.append(item.path)
        rel = item.document.get("predictions")
        if not isinstance(rel, str) or not rel:
            continue
        from stbench.results.rescore import prediction_folder

        try:
            folder = prediction_folder(item.path, item.document)
        except StbenchError as exc:
            problems.append(f"{item.path}: {exc}")
            continue
        if folder is not None and folder.is_dir():
            files += sorted(folder.glob("*.npz"))
    return files, problems


def size_problems(files: Iterable[Path], where: Path) -> list[str]:
    """One sentence per link, oversized file, and for a total over :data:`MAX_SUBMISSION_BYTES`."""
    problems, total = [], 0
    for path in files:
        if path.is_symlink():
            problems.append(f"{path}: is a symbolic link; a submission holds plain files only.")
            continue
        size = path.stat().st_size
        total += size
        if size > MAX_FILE_BYTES:
            problems.append(f"{path}: is {size / 1024**2:.1f} MiB, more than the {MAX_FILE_BYTES // 1024**2} MiB a file may be.")
    if total > MAX_SUBMISSION_BYTES:
        problems.append(f"{where}: holds {total / 1024**2:.1f} MiB, more than the {MAX_SUBMISSION_BYTES // 1024**2} MiB "
                        "a submission may be.")
    return problems


def assemble(results_dir: Path, card: Path, out: Path) -> Path:
    """Write the submission ``out`` from a results folder and a card; returns ``out``.

    Copies the card and, from ``results_dir``, only :func:`needed_files`; refuses (one sentence)
    an unreadable card, an existing ``out``, links and files over the size limits. Validate the
    result with :func:`validate_submission`.
    """
    from stbench.submit.validate import results_root

    results_dir, card, out = Path(results_dir), Path(card), Path(out)
    if not results_dir.is_dir():
        raise StbenchError(f"Results folder {results_dir} does not exist.")
    parsed, problems = read_card(card)
    if parsed is None:
        raise StbenchError(problems[0])
    if out.exists():
        raise StbenchError(f"{out} already exists; choose a new folder (or remove it first).")
    base = results_root(results_dir)
    files, problems = needed_files(base)
    if not files:
        raise StbenchError(f"No results under {results_dir} (expected <cohort>/<model>/fold<k>.json files).")
    problems += size_problems(files, results_dir)
    if problems:
        raise StbenchError(f"{problems[0]} ({len(problems)} problem(s); nothing written)" if len(problems) > 1 else problems[0])
    out.mkdir(parents=True)
    shutil.copyfile(card, out / CARD_NAME)
    for path in files:
        target = out / RESULTS / path.resolve().relative_to(base.resolve())
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return out


def validate_submission(
    folder: Path, *, root: Path | None = None, recompute: bool = True, on_note: Callable[[str], object] | None = None
) -> list[str]:
    """Every problem of the submission ``folder``, one sentence each (``[]``: it passes)."""
    from stbench.submit.validate import validate

    folder = Path(folder)
    if not folder.is_dir():
        raise StbenchError(f"Submission folder {folder} does not exist.")
    problems = [f"{p}: a submission holds {CARD_NAME}, {RESULTS}/ and optionally README.md only, not {p.name}."
                for p in sorted(folder.iterdir()) if p.name not in ALLOWED]
    problems += size_problems((p for p in folder.rglob("*") if p.is_symlink() or p.is_file()), folder)
    card, card_issues = read_card(folder / CARD_NAME)
    problems += card_issues
    base = folder / RESULTS
    if not base.is_dir():
        return problems + [f"{folder}: has no {RESULTS}/ folder (the results as `stbench score` writes them)."]
    try:
        problems += validate(base, root=root, recompute=recompute, on_note=on_note)
    except StbenchError as exc:
        return problems + [str(exc)]
    found, _ = results.scan_results(base)
    models = sorted({item.model for item in found})
    if models != [folder.name]:
        problems.append(f"{folder}: its results must be of one model named as the folder ({folder.name!r}), "
                        f"not {', '.join(map(repr, models))}.")
    if card is not None and isinstance(card.get("oracle"), bool):
        problems += [f"{item.path}: model.oracle is {item.document['model'].get('oracle')} but the card says oracle = "
                     f"{str(card['oracle']).lower()}." for item in found
                     if item.document["model"].get("oracle") is not card["oracle"]]
    for item in found:
        problems += prediction_problems(item)
    return problems


def prediction_problems(item: results.ResultFile) -> list[str]:
    """The kept predictions of one result against the result itself: one ``.npz`` per test slide,
    ``X`` of shape (the slide's ``n_spots``, the cohort's ``n_genes``), as many unique spot names
    as rows and unique gene names as columns, the same genes on every slide."""
    from stbench.results.predictions import read_slide_predictions
    from stbench.results.rescore import prediction_folder

    doc, where = item.document, str(item.path)
    try:
        folder = prediction_folder(item.path, doc)
    except StbenchError as exc:
        return [f"{where}: {exc}"]
    if folder is None:
        return [f"{where}: keeps no predictions; the leaderboard recomputes every metric from them (score without "
                "--no-save-predictions)."]
    if not folder.is_dir():
        return []  # validate() names the missing folder
    test = [s for s in doc["cohort"].get("test_slides", []) if isinstance(s, str)]
    present = sorted(p.stem for p in folder.glob("*.npz"))
    problems = [f"{where}: its predictions hold {s}.npz, which is not a test slide." for s in present if s not in test]
    n_genes = doc["cohort"].get("n_genes")
    genes = None
    for slide in test:
        if slide not in present:
            problems.append(f"{where}: its predictions lack the test slide {slide}.")
            continue
        n_spots = (doc.get("per_slide") or {}).get(slide, {}).get("n_spots")
        shape = (n_spots, n_genes) if isinstance(n_spots, int) and isinstance(n_genes, int) else None
        try:
            pred = read_slide_predictions(folder, slide, shape)
        except StbenchError as exc:
            problems.append(f"{where}: {str(exc).rstrip('.')}.")
            continue
        x = pred.X
        if x.ndim != 2 or (shape is not None and x.shape != shape):
            problems.append(f"{where}: the predictions of slide {slide} have shape {x.shape}, not "
                            f"({n_spots} spots, {n_genes} genes).")
            continue
        if pred.obs_names.shape != (x.shape[0],) or len(set(pred.obs_names.tolist())) != x.shape[0]:
            problems.append(f"{where}: the predictions of slide {slide} do not name each of their {x.shape[0]} spots once.")
        if pred.var_names.shape != (x.shape[1],) or len(set(pred.var_names.tolist())) != x.shape[1]:
            problems.append(f"{where}: the predictions of slide {slide} do not name each of their {x.shape[1]} genes once.")
        elif genes is None:
            genes = pred.var_names
        elif not np.array_equal(genes, pred.var_names):
            problems.append(f"{where}: the predictions of slide {slide} are on other genes than those of the other slides.")
    return problems


def duplicate_models(folders: Iterable[Path], reference: Path | None = None) -> list[str]:
    """One sentence per submission whose name is another submission's or a model of ``reference``."""
    taken = {item.model for item in results.scan_results(reference)[0]} if reference and reference.is_dir() else set()
    problems, seen = [], set()
    for folder in folders:
        name = Path(folder).name
        if name in taken or name in seen:
            problems.append(f"{folder}: the model name {name!r} is already on the leaderboard; choose another.")
        seen.add(name)
    return problems
