"""Mini-batch MSE training of a small torch regressor on frozen features.

Shared by ``uni-mlp`` and ``deepspot``: both fit a head on cached encoder features with MSE,
shuffle with a seeded numpy generator, and keep the weights of the epoch with the lowest
validation MSE (the last epoch when there is no validation set).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from stbench.errors import StbenchError

if TYPE_CHECKING:
    import torch

    from stbench.predictor import Predictor

Inputs = Callable[[np.ndarray], Sequence["torch.Tensor"]]
"""Row indices int64 (b,) -> the model's input tensors for those rows, on the training device."""
Track = Callable[[Iterable[Any], str, int | None], Iterable[Any]]
"""A progress hook, e.g. :meth:`stbench.Predictor.track`."""

OPTIMIZERS = ("radam", "adamw")


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings.

    Attributes:
        epochs: passes over the training rows.
        batch_size: rows per optimiser step.
        lr: learning rate.
        weight_decay: weight decay; L2 added to the gradient for RAdam (torch's default, as
            the GenST paper's "RAdam, weight decay 1e-4" reads), decoupled for AdamW.
        optimizer: ``"radam"`` (the GenST paper's common protocol) or ``"adamw"``.
        seed: seed of the shuffling (numpy) and of dropout (torch).
        device: torch device.
    """

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    optimizer: str
    seed: int
    device: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any], seed: int, device: str) -> TrainSettings:
        """The settings in a predictor's resolved config (keys ``epochs``, ``batch_size``, ``lr``,
        ``weight_decay``, ``optimizer``)."""
        keys = ("epochs", "batch_size", "lr", "weight_decay", "optimizer")
        return cls(*(config[k] for k in keys), seed=seed, device=device)


@dataclass
class TrainHistory:
    """Per-epoch mean training MSE, validation MSE (empty without validation) and the epoch kept."""

    train_mse: list[float]
    val_mse: list[float]
    best_epoch: int


@contextmanager
def seeded(seed: int, device: str) -> Iterator[None]:
    """Run the block with torch's RNG seeded to ``seed``, restoring the global RNG state after."""
    import torch

    dev = torch.device(device)
    devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def make_optimizer(params: Iterable[torch.nn.Parameter], settings: TrainSettings) -> torch.optim.Optimizer:
    """RAdam (torch defaults, L2 weight decay) or AdamW with the settings' lr and weight decay."""
    import torch

    if settings.optimizer == "radam":
        return torch.optim.RAdam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    if settings.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    raise StbenchError(f"Unknown optimizer {settings.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}.")


def train_regressor(
    model: torch.nn.Module,
    train_inputs: Inputs,
    train_y: np.ndarray,
    settings: TrainSettings,
    *,
    val_inputs: Inputs | None = None,
    val_y: np.ndarray | None = None,
    track: Track | None = None,
) -> TrainHistory:
    """Train ``model`` in place to map ``train_inputs(rows)`` to ``train_y[rows]`` under MSE.

    Args:
        model: the regressor, already on ``settings.device``; ``model(*inputs)`` -> (b, n_genes).
        train_inputs: model inputs of training rows.
        train_y: float32 (n_train, n_genes) targets, log1p space.
        settings: optimisation settings.
        val_inputs: model inputs of validation rows, for model selection.
        val_y: float32 (n_val, n_genes) validation targets.
        track: progress hook over epochs and batches.

    Returns:
        The loss history; ``model`` holds the weights of ``best_epoch`` on return.
    """
    import torch
    import torch.nn.functional as F

    track = track or (lambda it, desc, total: it)
    rng = np.random.default_rng(settings.seed)
    optimizer = make_optimizer(model.parameters(), settings)
    y_all = torch.from_numpy(np.ascontiguousarray(train_y, np.float32)).to(settings.device)
    n = len(train_y)
    n_batches = -(-n // settings.batch_size)
    use_val = val_inputs is not None and val_y is not None and len(val_y) > 0
    history = TrainHistory([], [], settings.epochs - 1)
    best_state, best_mse = None, float("inf")
    for epoch in track(range(settings.epochs), "epochs", settings.epochs):
        model.train()
        order = rng.permutation(n)
        total = torch.zeros((), device=settings.device)
        for b in track(range(n_batches), "batches", n_batches):
            rows = order[b * settings.batch_size : (b + 1) * settings.batch_size]
            loss = F.mse_loss(model(*train_inputs(rows)), y_all[torch.from_numpy(rows).to(settings.device)])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(rows)
        history.train_mse.append(float(total) / max(n, 1))
        if use_val:
            pred = predict_rows(model, val_inputs, len(val_y), val_y.shape[1], settings.batch_size)
            mse = float(np.mean((pred - val_y) ** 2))
            history.val_mse.append(mse)
            if mse < best_mse:
                best_mse, history.best_epoch = mse, epoch
                best_state = copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


def predict_rows(model: torch.nn.Module, inputs: Inputs, n: int, n_genes: int, batch_size: int) -> np.ndarray:
    """float32 (n, n_genes): ``model`` in eval mode on rows 0..n-1, ``batch_size`` at a time."""
    import torch

    model.eval()
    out = [np.zeros((0, n_genes), np.float32)]
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            rows = np.arange(start, min(start + batch_size, n))
            out.append(model(*inputs(rows)).float().cpu().numpy())
    return np.concatenate(out).astype(np.float32, copy=False)


def fit_head(
    predictor: Predictor,
    build: Callable[[], torch.nn.Module],
    train_inputs: Inputs,
    train_y: np.ndarray,
    *,
    val_inputs: Inputs | None,
    val_y: np.ndarray | None,
) -> tuple[torch.nn.Module, TrainHistory]:
    """Build the head (``build()``) under the predictor's seed, move it to its device and train
    it with :func:`train_regressor` on the settings of its config; returns (model, history)."""
    settings = TrainSettings.from_config(predictor.config, predictor.seed, predictor.device)
    with seeded(predictor.seed, predictor.device):
        model = build().to(predictor.device)
        history = train_regressor(
            model, train_inputs, train_y, settings, val_inputs=val_inputs, val_y=val_y, track=predictor.track
        )
    return model, history
