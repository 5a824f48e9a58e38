"""Checks of every ``stbench run`` input that need no data, run before any cohort is prepared or
loaded and before anything is submitted: an input error costs seconds, not a grid of failed cells.

What is checked where: model and cohort names, ``--folds`` syntax, ``--gpus``, ``--stale-after``
and the SLURM options when the command line is read (:mod:`stbench.cli`, :class:`SlurmOptions`);
the executor, ``--jobs`` and the device in :func:`stbench.grid.launch.run`; here the profile of
every model and the fold numbers against each cohort's split; the ``--set`` keys and types by
:func:`stbench.grid.plan.model_settings`, which :func:`check_run_inputs` calls too, and a
``--set encoder`` name as a plain name (it becomes part of the results' paths).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from stbench import registry
from stbench.errors import StbenchError
from stbench.protocol.cohorts import COHORTS
from stbench.protocol.splits import N_FOLDS, load_split
from stbench.results.document import model_entry

if TYPE_CHECKING:
    from stbench.grid.launch import RunConfig


def n_folds(cohort: str) -> int:
    """The number of folds of ``cohort``: its committed split's, or :data:`N_FOLDS` for a directory."""
    if cohort in COHORTS and not Path(cohort).expanduser().is_dir():
        split = load_split(cohort)
        return int(split.document.get("n_folds", N_FOLDS)) if split.qc_derived else len(split.folds)
    return N_FOLDS


def check_run_inputs(cfg: RunConfig, profile: str) -> None:
    """Raise :class:`StbenchError` (one sentence) for the first bad input of ``cfg`` run with the
    resolved ``profile``; reads no data but the committed split files."""
    from stbench.grid.plan import model_settings

    for model in cfg.models:
        registry.get_predictor_class(model).check_profile(profile)
    settings = model_settings(cfg.models, profile, cfg.settings)
    for model in cfg.models:  # a --set encoder becomes part of the results' paths: a plain name
        model_entry(model, settings[model])
    if cfg.folds is not None:
        for cohort in cfg.cohorts:
            count = n_folds(cohort)
            bad = [k for k in cfg.folds if not 0 <= k < count]
            if bad:
                raise StbenchError(
                    f"Cohort {cohort} has folds 0 to {count - 1}; --folds {bad[0]} does not exist."
                )
