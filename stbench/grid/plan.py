"""Which cells a ``stbench run`` computes: load each cohort and its split once, resolve the
``--set`` settings, and sort the requested cells into those to compute (``pending``) and those
to leave alone (a current result, a live claim by another launcher, a cohort that failed to load).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from stbench import registry
from stbench.data.folds import cohort_split
from stbench.data.prepare import prepare_and_load
from stbench.data.prepared import PreparedCohort
from stbench.errors import StbenchError
from stbench.grid import claims
from stbench.grid.cell import CellOutcome, CellSpec, is_current
from stbench.grid.settings import resolve_settings
from stbench.progress import RichHook, console
from stbench.protocol.splits import Split
from stbench.results.document import ENCODER_KEY

if TYPE_CHECKING:
    from stbench.grid.launch import RunConfig


@dataclass
class Plan:
    pending: list[CellSpec] = field(default_factory=list)
    outcomes: list[CellOutcome] = field(default_factory=list)
    """Cells not computed by this launcher (skipped, claimed, or failed before starting)."""
    loaded: dict[str, tuple[PreparedCohort, Split, str, float]] = field(default_factory=dict)
    """Prepared cohort, split, split origin and preparation seconds, by cohort name."""


def model_settings(models: tuple[str, ...], profile: str, assignments: tuple[str, ...]) -> dict[str, dict]:
    """The validated ``--set`` overrides of each model (see :mod:`stbench.grid.settings`).

    An ``encoder`` override naming the profile's own encoder is dropped: it changes nothing, and
    the model's results keep their plain place in the layout (``<model>/``, not
    ``<model>@<encoder>/``, :func:`stbench.results.document.model_entry`), so one configuration
    never has two places.
    """
    profiles = {m: dict(registry.get_predictor_class(m).profiles.get(profile, {})) for m in models}
    resolved = resolve_settings(assignments, profiles)
    for model, chosen in resolved.items():
        if ENCODER_KEY in chosen and chosen[ENCODER_KEY] == profiles[model].get(ENCODER_KEY):
            del chosen[ENCODER_KEY]
    return resolved


def make_plan(cfg: RunConfig, device: str, profile: str, threads: int, hook: RichHook | None) -> Plan:
    """Prepare (when needed, saying so) and load the cohorts, and sort the requested cells (prints why a
    cell is not computed); ``threads`` is the CPU thread count every cell runs with."""
    settings = model_settings(cfg.models, profile, cfg.settings)
    plan = Plan()
    for given in cfg.cohorts:
        t0 = time.perf_counter()
        try:
            cohort = prepare_and_load(given, cfg.root, progress=hook, announce=_say)
            split, origin = cohort_split(given, cohort, cfg.results, cfg.split_seed)
        except StbenchError as exc:
            if len(cfg.cohorts) == 1:
                raise
            # with several cohorts, one whose data is missing must not stop the others
            console.print(f"[red]skipped cohort[/] {given}: {exc}", soft_wrap=True)
            plan.outcomes += [CellOutcome(given, m, -1, "failed", message=str(exc)) for m in cfg.models]
            continue
        loaded = plan.loaded[cohort.name] = (cohort, split, origin, time.perf_counter() - t0)
        folds = cfg.folds if cfg.folds is not None else tuple(range(len(split.folds)))
        for k in folds:
            split.fold(k)
        for model in cfg.models:
            for fold in folds:
                for seed in cfg.seeds:
                    spec = CellSpec(
                        cohort=str(given), cohort_name=cohort.name, model=model, fold=fold, profile=profile,
                        seed=seed, split_seed=cfg.split_seed, threads=threads, results=str(cfg.results),
                        device=device, root=str(cfg.root) if cfg.root else None, settings=settings[model],
                        save_predictions=cfg.save_predictions, overwrite=cfg.overwrite, stale_after=cfg.stale_after,
                    )
                    _sort(plan, spec, loaded)
    return plan


def _sort(plan: Plan, spec: CellSpec, loaded: tuple[PreparedCohort, Split, str, float]) -> None:
    existing = is_current(spec, loaded[0], loaded[1])
    if existing is not None:
        plan.outcomes.append(CellOutcome.of(spec, "skipped", metrics=existing["metrics"]))
        return
    path = spec.claim_path()
    held = claims.read_json(path)
    if held is not None:
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            mtime = time.time()
        if claims.stale_reason(held, mtime, spec.stale_after) is None:
            message = f"claimed by {claims.job_label(held)}"
            console.print(f"skipped {spec.label}: {message}", soft_wrap=True, markup=False)
            plan.outcomes.append(CellOutcome.of(spec, "claimed", message=message))
            return
    plan.pending.append(spec)


def mark_queued(specs: list[CellSpec], executor: str, job_ids: dict[int, str] | None = None) -> None:
    """Leave ``<cell>.queued`` for each pending cell (``stbench status`` shows it as pending)."""
    for i, spec in enumerate(specs):
        claims.write_marker(spec.queued_path(), {
            "executor": executor, "job": (job_ids or {}).get(i), "queued_at": time.time(),
        })


def outcome_from_disk(spec: CellSpec, plan: Plan, since: float) -> CellOutcome:
    """What became of a cell computed elsewhere (a SLURM task submitted at ``since``, epoch
    seconds), read from its files."""
    cohort, split, _, _ = plan.loaded[spec.cohort_name]
    failed = claims.read_json(spec.failed_path())
    if failed is not None and failed.get("written_at", 0) >= since:
        return CellOutcome.of(spec, "failed", failed.get("seconds") or 0.0, failed.get("message", "failed"))
    existing = is_current(spec.resumed(), cohort, split)
    if existing is not None:
        total = existing.get("timings", {}).get("total", 0.0)
        return CellOutcome.of(spec, "done", total, metrics=existing["metrics"])
    message = f"the task ended without a result; see {spec.log_path()}"
    return CellOutcome.of(spec, "failed", message=message)


def _say(line: str) -> None:
    """One line on the console, never wrapped or read as markup (it holds paths)."""
    console.print(line, soft_wrap=True, markup=False)
