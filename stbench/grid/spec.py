"""The one thing executors pass around: :class:`CellSpec` (what to compute) and
:class:`CellOutcome` (what came of it). Light on purpose: a SLURM task or a worker imports this
module before anything heavy, so its first log line comes early.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from stbench.results import document as results
from stbench.grid import claims

LOG_NAME = "log.txt"


@dataclass(frozen=True)
class CellSpec:
    """Everything needed to compute one cell anywhere (JSON-serialisable).

    ``cohort`` is the cohort as given on the command line (a name or a directory path);
    ``cohort_name`` is the prepared cohort's name, used for the results layout. ``settings``
    are the model's ``--set`` overrides; ``device`` is resolved (``cpu`` or ``cuda``).
    ``seed`` seeds training; ``split_seed`` dealt the split of a cohort directory; ``threads`` is
    the CPU thread count the cell runs with (set at its start, whatever ran before in the process).
    """

    cohort: str
    cohort_name: str
    model: str
    fold: int
    profile: str
    seed: int
    results: str
    device: str
    root: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    save_predictions: bool = True
    overwrite: bool = False
    stale_after: float | None = claims.DEFAULT_STALE_AFTER_S
    split_seed: int = 0
    threads: int = 1

    @property
    def entry(self) -> str:
        """The model's name in the results layout: ``model`` or ``model@encoder``
        (:func:`stbench.results.document.model_entry`)."""
        return results.model_entry(self.model, self.settings)

    @property
    def label(self) -> str:
        return f"{self.cohort_name}/{self.entry}/{results.cell_stem(self.fold, self.seed)}"

    def cell_path(self) -> Path:
        """The cell's place in the layout, without a suffix (:func:`stbench.results.document.cell_path`)."""
        return results.cell_path(Path(self.results), self.cohort_name, self.entry, self.fold, self.seed)

    def result_path(self) -> Path:
        return self.cell_path().with_suffix(".json")

    def workdir(self) -> Path:
        return self.cell_path()

    def log_path(self) -> Path:
        return self.workdir() / LOG_NAME

    def claim_path(self) -> Path:
        return claims.claim_path(self.cell_path())

    def failed_path(self) -> Path:
        return claims.failed_path(self.cell_path())

    def queued_path(self) -> Path:
        return claims.queued_path(self.cell_path())

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> CellSpec:
        return cls(**json.loads(text))

    def resumed(self) -> CellSpec:
        """The spec a requeued task runs: never wipe the checkpoints it is resuming from."""
        return replace(self, overwrite=False)


@dataclass
class CellOutcome:
    """What came of one cell; ``model`` is its entry in the layout (``model`` or ``model@encoder``)."""

    cohort: str
    model: str
    fold: int  # -1: every fold of a cohort that could not be loaded
    status: str  # "done", "skipped", "claimed" or "failed"
    seconds: float = 0.0
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    seed: int = 0

    @classmethod
    def of(cls, spec: CellSpec, status: str, seconds: float = 0.0, message: str = "",
           metrics: dict[str, float] | None = None) -> CellOutcome:
        """The outcome of the cell ``spec`` describes."""
        return cls(spec.cohort_name, spec.entry, spec.fold, status, seconds, message, metrics or {}, spec.seed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
