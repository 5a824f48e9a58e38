"""Training plumbing shared by the torch predictors: devices, seeding, loaders, the epoch loop,
validation-based early stopping, and checkpoints that survive an interruption.

The recipe (one for every trained model, :func:`fit_epochs`):

* before the first epoch the untrained model is scored on the validation slides ("epoch 0";
  every regression head starts at the per-gene training mean, so epoch 0 is the ``mean``
  baseline);
* after each epoch the model is scored again (higher is better); the best-scoring weights are
  kept; training stops when the score has not improved for ``patience`` epochs, or after
  ``epochs`` epochs (the maximum); the best weights are restored (epoch 0 included: a model
  that never beats its start returns its start);
* without validation slides (a fold whose split has none) there is nothing to stop on: the
  model trains for the maximum ``epochs`` and keeps the last weights.

:func:`fit_report` turns the resulting :class:`TrainState` into what the runner records under
``training`` in the results JSON (score name, best epoch, epochs run, why it stopped, the
validation curve).

The loop (:func:`fit_epochs`) is generic: a model, an optimiser, a loader and a ``step`` that
returns the loss of one batch. On CUDA it runs under bf16 autocast; images and convolution
weights are channels-last on every device.
Every epoch reseeds torch's RNG (shuffling, augmentation, dropout) from ``(seed, epoch)``, so a run
resumed from its last checkpoint continues exactly as an uninterrupted one would.

Checkpoints that let a run resume after its last finished epoch: :mod:`stbench.torchkit.checkpoints`;
the validation scores (``validate``) and their floor guard: :mod:`stbench.torchkit.validation`.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import fields
from typing import Any, Protocol, TypeVar

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

from stbench.data.spots import SpotData
from stbench.errors import StbenchError
from stbench.predictor import Predictor
from stbench.torchkit.checkpoints import Checkpoints, TrainState, run_fingerprint

C = TypeVar("C")

Track = Callable[[Iterable[Any], str, int | None], Iterable[Any]]
"""A progress hook, e.g. :meth:`stbench.Predictor.track`."""
Batch = Any
"""What the loader yields: a tensor or a tuple of tensors."""


def config_from(cls: type[C], values: Mapping[str, Any]) -> C:
    """A config dataclass from a predictor's resolved config dict (JSON lists become tuples)."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise StbenchError(f"{cls.__name__} has no setting {', '.join(unknown)}.")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def check_panel(expected: tuple[str, ...], data: SpotData) -> None:
    """Raise when ``data`` is not on the gene panel the model was fitted on."""
    if tuple(data.genes) != tuple(expected):
        raise StbenchError(
            f"The model was fitted on a {len(expected)}-gene panel but was asked to predict "
            f"a {len(data.genes)}-gene panel that differs; predict on the cohort it was fitted on."
        )


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; any other string as torch spells it."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices); make cuDNN pick deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch: a 63-bit hash of ``(seed, epoch)``."""
    digest = hashlib.sha256(f"{seed}:{epoch}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def make_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    device: torch.device,
    shuffle: bool = False,
    drop_last: bool = False,
    whole_batches: bool = False,
) -> DataLoader:
    """A DataLoader: on CUDA with pinned memory and ``min(8, CPUs)`` workers; on CPU in the main
    process (workers cost more than they save on small CPU runs).

    Shuffling and the workers' seeds are drawn from torch's global RNG when an epoch starts,
    which :func:`fit_epochs` reseeds; workers are not persistent, so every epoch's workers
    start from that epoch's seed (what makes a resumed run identical to an uninterrupted one).

    ``whole_batches``: ``dataset[rows]`` takes a list of rows and returns the collated batch
    (one indexing per batch instead of one ``__getitem__`` per sample and a stack); the rows of
    each batch are drawn exactly as the per-sample loader draws them (the same sampler, from the
    same RNG draws), so both loaders yield the same batches.
    """
    cuda = device.type == "cuda"
    workers = min(8, os.cpu_count() or 1) if cuda else 0
    if whole_batches:
        rows = RandomSampler(dataset) if shuffle else SequentialSampler(dataset)
        return DataLoader(
            dataset,
            batch_size=None,
            sampler=BatchSampler(rows, batch_size, drop_last),
            num_workers=workers,
            pin_memory=cuda,
        )
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        num_workers=workers,
        pin_memory=cuda,
    )


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA; a no-op elsewhere (CPU runs stay in float32)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def prepare_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move ``model`` to ``device`` in channels-last memory format (faster convolutions with
    cuDNN under bf16, and with oneDNN on CPU: about +35% for the small profiles)."""
    return model.to(device=device, memory_format=torch.channels_last)


def to_device(batch: Batch, device: torch.device) -> Batch:
    """Move a tensor or tuple of tensors to ``device``; 4-d tensors (images) become
    channels-last, like the model (:func:`prepare_model`)."""
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, device) for b in batch)
    batch = batch.to(device, non_blocking=True)
    if batch.dim() == 4:
        batch = batch.contiguous(memory_format=torch.channels_last)
    return batch


def array_batches(array: np.ndarray, batch_size: int) -> Iterator[torch.Tensor]:
    """Consecutive row blocks of an in-memory array as tensors (no loader, no workers)."""
    for start in range(0, len(array), batch_size):
        yield torch.from_numpy(np.ascontiguousarray(array[start : start + batch_size]))


@torch.no_grad()
def predict_batches(fn: Callable[[Batch], torch.Tensor], batches: Iterable[Batch], device: torch.device) -> np.ndarray:
    """Concatenate ``fn(batch)`` over batches (a loader or :func:`array_batches`): float32
    numpy (n, ...). The caller puts its model in eval mode; ``fn`` runs under :func:`autocast`."""
    outputs = []
    for batch in batches:
        with autocast(device):
            outputs.append(fn(to_device(batch, device)).float().cpu())
    return torch.cat(outputs).numpy()


def fit_epochs(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: Iterable[Batch],
    step: Callable[[torch.nn.Module, Batch], torch.Tensor],
    *,
    epochs: int,
    seed: int,
    device: torch.device,
    checkpoints: Checkpoints,
    validate: Callable[[torch.nn.Module], float] | None = None,
    patience: int | None = None,
    track: Track | None = None,
    description: str = "train",
) -> TrainState:
    """Train with early stopping on a validation score (the recipe of the module docstring).

    Args:
        model: already on ``device`` (see :func:`prepare_model`).
        optimizer: over the model's parameters.
        loader: training batches (from :func:`make_loader` or :class:`RowBatches`: shuffled
            from torch's global RNG); must have a length.
        step: ``(model, batch on device) -> scalar loss``; runs under :func:`autocast`.
        epochs: the maximum number of epochs (a resumed run does only the missing ones).
        seed: base seed; epoch ``e`` uses :func:`epoch_seed` ``(seed, e)``.
        checkpoints: where state and best weights go (and are resumed from).
        validate: ``model -> score`` (higher is better), called in eval mode before training
            (epoch 0) and after each epoch; ``None``: train ``epochs`` epochs, keep the last.
        patience: stop after this many epochs without a better score; ``None`` never stops
            early.
        track: progress hook wrapping each epoch's batches.
        description: progress bar label.
    Returns:
        The final :class:`TrainState`; ``model`` holds the best epoch's weights.
    """
    state = checkpoints.load_state(model, optimizer) or TrainState()
    state.resumed_from = state.epoch
    best = checkpoints.load_best() if state.epoch else None
    if validate is not None and not state.history:
        model.eval()
        state.best_score, state.best_epoch = validate(model), 0
        state.history.append({"epoch": 0, "loss": None, "score": state.best_score})
        best = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        checkpoints.save_best(best, state)
    epoch = state.epoch
    while epoch < epochs and state.stopped != "early":
        torch.manual_seed(epoch_seed(seed, epoch))
        model.train()
        total, count = torch.zeros((), device=device), 0
        batches = _tracked(loader, track, f"{description} epoch {epoch + 1}/{epochs}")
        for batch in batches:
            with autocast(device):
                loss = step(model, to_device(batch, device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach().float()
            count += 1
        model.eval()
        score = validate(model) if validate is not None else None
        epoch = state.epoch = epoch + 1
        state.history.append({"epoch": epoch, "loss": float(total) / max(count, 1), "score": score})
        if score is None or score > state.best_score or best is None:
            state.best_score = -math.inf if score is None else score
            state.best_epoch = epoch
            best = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            checkpoints.save_best(best, state)
        if validate is not None and patience is not None and epoch - state.best_epoch >= patience:
            state.stopped = "early"
        checkpoints.save_state(model, optimizer, state)
    if state.stopped != "early":
        state.stopped = "max_epochs" if validate is not None else "no_validation"
    if best is not None:
        model.load_state_dict(best)
    model.eval()
    return state


def fit_report(state: TrainState, val_score: str | None, patience: int | None, max_epochs: int) -> dict[str, Any]:
    """What a predictor records under ``training`` in the results JSON.

    Returns:
        ``{"val_score": name or None, "best_epoch", "epochs_run", "max_epochs", "patience",
        "stopped": "early" | "max_epochs" | "no_validation", "val_curve": [score per epoch,
        from epoch 0], "loss_curve": [mean training loss per epoch, from epoch 1],
        "resumed_from_epoch": the checkpoint's epoch this fit resumed from (0: from scratch)}``.
    """
    scored = [h for h in state.history if h["score"] is not None]
    return {
        "val_score": val_score if scored else None,
        "best_epoch": state.best_epoch,
        "epochs_run": state.epoch,
        "max_epochs": max_epochs,
        "patience": patience,
        "stopped": state.stopped,
        "val_curve": [round(float(h["score"]), 6) for h in scored],
        "loss_curve": [round(float(h["loss"]), 6) for h in state.history if h["loss"] is not None],
        "resumed_from_epoch": state.resumed_from,
    }


def _tracked(loader: DataLoader, track: Track | None, description: str) -> Iterable[Batch]:
    return loader if track is None else track(loader, description, len(loader))


class TrainingConfig(Protocol):
    """The schedule fields every trained model's config has."""

    epochs: int
    patience: int
    lr: float
    weight_decay: float


OPTIMIZERS = ("radam", "adamw")


def make_optimizer(params: Iterable[torch.nn.Parameter], name: str, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """RAdam (the GenST paper's common protocol; L2 weight decay, torch's default coupling) or
    AdamW (decoupled weight decay), with the multi-tensor update on every device (torch uses it
    by default on CUDA only; on the CPU it takes a third of the small profiles' update time)."""
    if name == "radam":
        return torch.optim.RAdam(params, lr=lr, weight_decay=weight_decay, foreach=True)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, foreach=True)
    raise StbenchError(f"Unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}.")


class RowBatches:
    """Shuffled batches of row indices 0..n-1 (int64 tensors), an in-memory stand-in for a
    DataLoader: a new permutation from torch's global RNG each pass (which :func:`fit_epochs`
    reseeds per epoch). The last incomplete batch is dropped when there is more than one batch."""

    def __init__(self, n: int, batch_size: int) -> None:
        self.n, self.batch_size = n, batch_size
        self.drop_last = n > batch_size

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        order = torch.randperm(self.n)
        for b in range(len(self)):
            yield order[b * self.batch_size : (b + 1) * self.batch_size]


def train_predictor(
    predictor: Predictor,
    model: torch.nn.Module,
    loader: Iterable[Batch],
    step: Callable[[torch.nn.Module, Batch], torch.Tensor],
    cfg: TrainingConfig,
    *,
    train: SpotData,
    val: SpotData | None,
    validate: Callable[[torch.nn.Module], float] | None,
    val_score: str | None,
) -> TrainState:
    """The common recipe for a predictor's model: the optimiser of ``cfg.optimizer`` (RAdam when
    the config has none) at ``cfg.lr`` / ``cfg.weight_decay``, :func:`fit_epochs` for at most
    ``cfg.epochs`` epochs with early stopping after ``cfg.patience`` epochs without a better
    ``validate`` score, seeded by the predictor's seed, with checkpoints in its workdir (resumed
    when the run fingerprint matches) and its progress bars. Sets ``predictor.fit_report``
    (:func:`fit_report`, the score named ``val_score``).
    """
    optimizer = make_optimizer(
        model.parameters(), getattr(cfg, "optimizer", "radam"), lr=cfg.lr, weight_decay=cfg.weight_decay
    )
    state = fit_epochs(
        model,
        optimizer,
        loader,
        step,
        epochs=cfg.epochs,
        seed=predictor.seed,
        device=next(model.parameters()).device,
        checkpoints=Checkpoints(predictor.workdir, predictor.name, run_fingerprint(predictor, train, val)),
        validate=validate,
        patience=cfg.patience,
        track=predictor.track,
        description=predictor.name,
    )
    predictor.fit_report = fit_report(state, val_score, cfg.patience, cfg.epochs)
    return state
