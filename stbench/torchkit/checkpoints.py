"""Checkpoints of a training run and its progress (:class:`TrainState`), used by
:func:`stbench.torchkit.training.fit_epochs`.

Files (safetensors, in the predictor's workdir):

* ``{prefix}-state.safetensors``: model and optimiser state after the last finished epoch, with
  the epoch, the best validation score and the run's fingerprint in the metadata;
* ``{prefix}-best.safetensors``: the weights of the best epoch by validation score (the last
  epoch when there is no validation set).

A run whose fingerprint (configuration, seed, data) matches the state file resumes after its
last finished epoch; any other run starts afresh and overwrites the files.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, safe_open, save_file

from stbench.data.spots import SpotData
from stbench.predictor import Predictor


def fingerprint(**parts: Any) -> str:
    """A short hash of JSON-serialisable parts (configuration, seed, data identity)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_fingerprint(predictor: Predictor, train: SpotData, val: SpotData | None) -> str:
    """Identity of a training run, for checkpoint resumption: model name and version, resolved
    config, seed, gene panel, and the train/validation slides (id, spot count, patch hash)."""
    slides = {
        part: [(s.id, s.n_spots, s.patch_key) for s in data.slides]
        for part, data in (("train", train), ("val", val))
        if data is not None
    }
    return fingerprint(
        model=predictor.name,
        version=predictor.version,
        config=predictor.get_config(),
        seed=predictor.seed,
        genes=list(train.genes),
        **slides,
    )


@dataclass
class TrainState:
    """Progress of a run.

    Attributes:
        epoch: number of finished epochs.
        best_score: best validation score so far (higher is better; ``-inf`` before any).
        best_epoch: the epoch that scored ``best_score`` (0 = the untrained model).
        history: per scored epoch, ``{"epoch", "loss", "score"}`` (mean training loss, ``None``
            for epoch 0, and validation score, ``None`` without validation).
        stopped: ``""`` while running, then ``"early"`` (patience ran out), ``"max_epochs"``
            or ``"no_validation"`` (trained the maximum without a validation set).
        resumed_from: the finished epochs of the state file this process resumed from (0: the
            run started afresh).
    """

    epoch: int = 0
    best_score: float = -math.inf
    best_epoch: int = 0
    history: list[dict[str, float | int | None]] = field(default_factory=list)
    stopped: str = ""
    resumed_from: int = 0


class Checkpoints:
    """The state and best-model files of one run (see the module docstring).

    Args:
        workdir: folder for the files; ``None`` keeps nothing on disk.
        prefix: file name prefix, e.g. the model name.
        run_fingerprint: identifies the run; a state file with another one is not resumed.
    """

    def __init__(self, workdir: Path | None, prefix: str, run_fingerprint: str) -> None:
        self.fingerprint = run_fingerprint
        self.state_path = workdir / f"{prefix}-state.safetensors" if workdir else None
        self.best_path = workdir / f"{prefix}-best.safetensors" if workdir else None

    def load_state(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> TrainState | None:
        """Restore model and optimiser from the state file when it belongs to this run."""
        if self.state_path is None or not self.state_path.is_file():
            return None
        with safe_open(str(self.state_path), "pt") as f:
            meta = f.metadata() or {}
        if meta.get("fingerprint") != self.fingerprint:
            return None
        tensors = load_file(str(self.state_path))
        model.load_state_dict(_strip(tensors, "model."))
        optimizer.load_state_dict(_unflatten_optimizer(_strip(tensors, "optim."), json.loads(meta["optim"])))
        return TrainState(**json.loads(meta["train_state"]))

    def save_state(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: TrainState) -> None:
        """Write model + optimiser + progress (atomically: a crash never leaves half a file)."""
        if self.state_path is None:
            return
        optim_tensors, optim_meta = _flatten_optimizer(optimizer.state_dict())
        tensors = {**_prefixed(model.state_dict(), "model."), **_prefixed(optim_tensors, "optim.")}
        meta = {
            "fingerprint": self.fingerprint,
            "optim": json.dumps(optim_meta),
            "train_state": json.dumps(asdict(state)),
        }
        _atomic_save(tensors, self.state_path, meta)

    def save_best(self, weights: dict[str, torch.Tensor], state: TrainState) -> None:
        """Write the best weights with their epoch and score."""
        if self.best_path is None:
            return
        meta = {
            "fingerprint": self.fingerprint,
            "best_epoch": str(state.best_epoch),
            "best_score": str(state.best_score),
        }
        _atomic_save(weights, self.best_path, meta)

    def load_best(self) -> dict[str, torch.Tensor] | None:
        """The best weights of this run, if on disk."""
        if self.best_path is None or not self.best_path.is_file():
            return None
        with safe_open(str(self.best_path), "pt") as f:
            if (f.metadata() or {}).get("fingerprint") != self.fingerprint:
                return None
        return load_file(str(self.best_path))


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {prefix + k: v for k, v in tensors.items()}


def _strip(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def _flatten_optimizer(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimiser state dict into tensors ``"{param}.{key}"`` and JSON for the rest."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for param, entries in state_dict["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{param}.{key}"] = value
            else:
                scalars.setdefault(str(param), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        param, key = name.split(".", 1)
        state.setdefault(int(param), {})[key] = value
    for param, entries in meta["scalars"].items():
        state.setdefault(int(param), {}).update(entries)
    return {"state": state, "param_groups": meta["param_groups"]}
