"""Mini-batch MSE training of a small torch regressor on frozen features, with the common recipe.

Shared by ``uni-mlp`` and ``deepspot``: both fit a head on cached encoder features with MSE.
Rows are batched by :class:`stbench.torchkit.training.RowBatches` and trained by the same loop
as every image model (:func:`stbench.torchkit.training.train_predictor`): early stopping on the
validation score ``val_score``, best epoch restored (epoch 0 = the untrained head, which
predicts the training mean), checkpoints and ``fit_report``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from stbench.data.spots import SpotData
    from stbench.predictor import Predictor

Inputs = Callable[[np.ndarray], Sequence["torch.Tensor"]]
"""Row indices int64 (b,) -> the model's input tensors for those rows, on the training device."""

HEAD_SETTINGS = ("epochs", "patience", "val_score", "batch_size", "lr", "weight_decay", "optimizer")
"""The config keys :func:`fit_head` reads (besides the model's own)."""


@contextmanager
def seeded(seed: int, device: str) -> Iterator[None]:
    """Run the block with torch's RNG seeded to ``seed``, restoring the global RNG state after."""
    import torch

    dev = torch.device(device)
    devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


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
    train: SpotData,
    val: SpotData | None,
    val_inputs: Inputs | None,
    val_y: np.ndarray | None,
) -> torch.nn.Module:
    """Build the head (``build()``, whose last layer is a ``torch.nn.Linear`` to the genes) under
    the predictor's seed, start that layer at the training mean of ``train_y``
    (:func:`~stbench.torchkit.heads.init_mean_head`), move it to the predictor's device and train
    it on MSE with the recipe of :func:`~stbench.torchkit.training.train_predictor`.

    Args:
        predictor: supplies seed, device, workdir, progress and the settings
            :data:`HEAD_SETTINGS` of its config; its ``fit_report`` is set.
        build: makes the untrained network; ``model(*inputs(rows))`` -> (b, n_genes).
        train_inputs, train_y: model inputs of training rows; float32 (n_train, n_genes) log1p.
        train, val: the slides (identify the run for checkpoint resumption).
        val_inputs, val_y: the same for the validation rows (``None`` without validation).
    Returns:
        The trained head, holding the best epoch's weights, in eval mode.
    """
    import torch
    import torch.nn.functional as F

    from stbench.torchkit.heads import init_mean_head
    from stbench.torchkit.training import RowBatches, train_predictor
    from stbench.torchkit.validation import regression_validator

    cfg = SimpleNamespace(**{k: predictor.config[k] for k in HEAD_SETTINGS})
    y = torch.from_numpy(np.ascontiguousarray(train_y, np.float32)).to(predictor.device)
    with seeded(predictor.seed, predictor.device):
        model = build()
        init_mean_head(_last_linear(model), train_y.mean(axis=0, dtype=np.float64).astype(np.float32))
        model = model.to(predictor.device)

        def step(m: torch.nn.Module, rows: torch.Tensor) -> torch.Tensor:
            return F.mse_loss(m(*train_inputs(rows.cpu().numpy())).float(), y[rows])

        validate = None
        if val_inputs is not None and val_y is not None and len(val_y):
            n_val, n_genes = val_y.shape
            predict = lambda m: predict_rows(m, val_inputs, n_val, n_genes, cfg.batch_size)  # noqa: E731
            validate = regression_validator(predict, val_y, cfg.val_score, floor=train_y.mean(axis=0))
        train_predictor(
            predictor,
            model,
            RowBatches(len(train_y), cfg.batch_size),
            step,
            cfg,
            train=train,
            val=val,
            validate=validate,
            val_score=cfg.val_score,
        )
    return model


def _last_linear(model: torch.nn.Module) -> torch.nn.Linear:
    """The last ``nn.Linear`` among the model's modules (its expression output layer)."""
    from torch import nn

    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not layers:
        raise TypeError(f"{type(model).__name__} has no linear output layer")
    return layers[-1]
