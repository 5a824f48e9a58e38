"""Where a cell's files live: the one place the results layout is built (:func:`cell_path`).

``<results>/<cohort>/<entry>/<cell>.json`` is the result, ``<cell>/`` its artefact folder and
``<cell>.claim`` / ``.failed`` / ``.queued`` its markers (:mod:`stbench.grid.claims`). ``<entry>``
is the model's name, or ``<model>@<encoder>`` for a cell run with ``--set encoder=NAME``
(:func:`model_entry`); ``<cell>`` is ``fold<k>`` for seed 0 and ``fold<k>-seed<s>`` otherwise
(:func:`cell_stem`). Every name is checked as a plain name (:func:`stbench.untrusted.plain_name`):
they come from users and from result files.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stbench.errors import StbenchError
from stbench.untrusted import plain_name

ENCODER_KEY = "encoder"
"""The setting (``--set encoder=NAME``) that names a frozen-feature model's encoder; an encoder
given this way is part of the result's place in the layout (:func:`model_entry`)."""
ENTRY_SEPARATOR = "@"


def model_entry(model: str, settings: Mapping[str, Any] | None = None) -> str:
    """The model's name in the results layout and on the leaderboard: ``model``, or
    ``model@encoder`` when ``settings`` (its ``--set`` overrides) name an encoder. Both parts must
    be plain names (they come from users and from result files)."""
    plain_name(model, "model name")
    encoder = (settings or {}).get(ENCODER_KEY) if isinstance(settings, Mapping) else None
    if encoder is None:
        return model
    plain_name(encoder, "encoder name")
    return plain_name(f"{model}{ENTRY_SEPARATOR}{encoder}", "model and encoder name")


def cell_stem(fold: int, seed: int = 0) -> str:
    """``fold<k>`` for seed 0, ``fold<k>-seed<s>`` for another seed."""
    fold, seed = int(fold), int(seed)
    if fold < 0 or seed < 0:
        raise StbenchError(f"Folds and seeds are non-negative integers, not fold {fold}, seed {seed}.")
    return f"fold{fold}" if seed == 0 else f"fold{fold}-seed{seed}"


def cell_path(results: Path, cohort: str, entry: str, fold: int, seed: int = 0) -> Path:
    """``<results>/<cohort>/<entry>/<cell_stem>``, without a suffix: the cell's artefact folder,
    and with ``.json`` / ``.claim`` / ``.failed`` / ``.queued`` its files. ``entry`` is
    :func:`model_entry`'s name; cohort and entry must be plain names."""
    return Path(results) / plain_name(cohort, "cohort name") / plain_name(entry, "model name") / cell_stem(fold, seed)


def result_path(results: Path, cohort: str, entry: str, fold: int, seed: int = 0) -> Path:
    """The result JSON of a cell: :func:`cell_path` + ``.json``."""
    return cell_path(results, cohort, entry, fold, seed).with_suffix(".json")


def artefact_dir(results: Path, cohort: str, entry: str, fold: int, seed: int = 0) -> Path:
    """The artefact folder of a cell: :func:`cell_path`."""
    return cell_path(results, cohort, entry, fold, seed)
