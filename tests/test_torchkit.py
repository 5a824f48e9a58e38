"""stbench.torchkit.data and .training: transforms, datasets, loaders, the epoch loop,
model selection and checkpoint resumption."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from stbench.errors import ExpressionHiddenError, StbenchError
from stbench.testing import tiny_spotdata
from stbench.torchkit.heads import init_mean_head
from stbench.torchkit.augment import IMAGENET_MEAN, IMAGENET_STD
from stbench.torchkit.data import (
    SpotImageDataset,
    eval_transform,
    predict_loader,
    train_loader,
)
from stbench.torchkit.checkpoints import Checkpoints
from stbench.torchkit.training import (
    config_from,
    RowBatches,
    fit_epochs,
    fit_report,
    make_loader,
    resolve_device,
    to_device,
)
from stbench.torchkit.validation import regression_validator, mean_gene_pearson

CPU = torch.device("cpu")


def test_eval_transform_normalises_with_imagenet_statistics() -> None:
    image = torch.full((3, 4, 4), 255, dtype=torch.uint8)
    out = eval_transform()(image)
    assert out.dtype == torch.float32 and out.shape == (3, 4, 4)
    expected = (1 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(out[:, 0, 0].numpy(), expected, rtol=1e-6)


def test_prediction_dataset_never_reads_hidden_expression() -> None:
    data = tiny_spotdata(n_slides=2, n_spots=3).hide_expression()
    ds = SpotImageDataset(data, image_size=8, transform=eval_transform(), with_expression=False, preload=True)
    assert len(ds) == 6 and ds[5].shape == (3, 8, 8)
    with pytest.raises(ExpressionHiddenError):
        SpotImageDataset(data, image_size=8, transform=eval_transform(), with_expression=True, preload=True)


@pytest.mark.parametrize("colour", ["raw", "slide"])
def test_preloaded_loaders_read_whole_batches_identical_to_per_sample_ones(colour: str) -> None:
    """The preloaded loaders index whole batches; they yield exactly the batches (rows, order,
    values, dtypes) of the per-sample loader drawn from the same RNG state, and leave the RNG
    in the same state (so the augmentation and every later epoch see the same draws)."""
    data = tiny_spotdata(n_slides=3, n_spots=7)

    def per_sample(shuffle: bool, expression: bool):
        dataset = SpotImageDataset(data, image_size=12, transform=None if expression else eval_transform(),
                                   with_expression=expression, preload=True, colour=colour)
        return make_loader(dataset, batch_size=4, device=CPU, shuffle=shuffle, drop_last=shuffle)

    for shuffle, whole in ((True, train_loader(data, image_size=12, augment="none", preload=True, batch_size=4,
                                               device=CPU, colour=colour).loader),
                           (False, predict_loader(data, image_size=12, preload=True, batch_size=4, device=CPU,
                                                  colour=colour))):
        got, want = [], []
        for loader, out in ((whole, got), (per_sample(shuffle, shuffle), want)):
            torch.manual_seed(3)
            out.extend(to_device(b, CPU) for b in loader)
            out.append(torch.rand(1))  # the RNG state after the epoch
        assert len(got) == len(want) == (6 if shuffle else 7)
        for a, b in zip(got, want):
            for x, y in zip(a if isinstance(a, tuple | list) else [a], b if isinstance(b, tuple | list) else [b]):
                assert x.dtype == y.dtype and x.shape == y.shape and torch.equal(x, y)


def test_preloaded_and_lazy_patches_are_identical() -> None:
    data = tiny_spotdata(n_slides=2, n_spots=3)
    kwargs = dict(image_size=20, transform=eval_transform(), with_expression=True)
    eager = SpotImageDataset(data, preload=True, **kwargs)
    lazy = SpotImageDataset(data, preload=False, **kwargs)
    for i in range(len(eager)):
        torch.testing.assert_close(eager[i][0], lazy[i][0], rtol=0, atol=0)
        torch.testing.assert_close(eager[i][1], torch.from_numpy(data.expression()[i]))


def test_train_loader_batches_and_cpu_loader_has_no_workers() -> None:
    data = tiny_spotdata(n_slides=2, n_spots=5, n_genes=4)
    loader = train_loader(data, image_size=8, augment="dihedral", preload=True, batch_size=4, device=CPU)
    assert loader.loader.num_workers == 0 and not loader.loader.pin_memory
    images, expression = next(iter(loader))
    assert images.shape == (4, 3, 8, 8) and expression.shape == (4, 4)
    assert images.dtype == torch.float32 and images.is_contiguous(memory_format=torch.channels_last)
    assert len(loader) == 2  # 10 spots, batch 4: the incomplete last batch is dropped


def test_to_device_makes_images_channels_last() -> None:
    images, table = to_device((torch.zeros(2, 3, 4, 4), torch.zeros(2, 5)), CPU)
    assert images.is_contiguous(memory_format=torch.channels_last) and table.shape == (2, 5)


def test_resolve_device() -> None:
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_mean_gene_pearson_matches_numpy_and_scores_constant_genes_zero() -> None:
    rng = np.random.default_rng(0)
    true = rng.normal(size=(20, 3))
    pred = true + rng.normal(size=(20, 3))
    pred[:, 2] = 1.0  # constant prediction: no information
    expected = np.mean([np.corrcoef(pred[:, g], true[:, g])[0, 1] for g in range(2)] + [0.0])
    assert mean_gene_pearson(pred, true) == pytest.approx(expected)


@dataclass(frozen=True)
class _Cfg:
    widths: tuple[int, ...]
    rate: float


def test_config_from_turns_lists_into_tuples_and_rejects_unknown_keys() -> None:
    assert config_from(_Cfg, {"widths": [1, 2], "rate": 0.5}) == _Cfg((1, 2), 0.5)
    with pytest.raises(StbenchError, match="bogus"):
        config_from(_Cfg, {"widths": [1], "rate": 0.5, "bogus": 1})


# --- the epoch loop ---------------------------------------------------------------------------


class _Interrupt(Exception):
    pass


def _problem(seed: int = 0) -> tuple[nn.Module, torch.optim.Optimizer, torch.utils.data.DataLoader]:
    """A small regression with dropout and shuffling, so every RNG draw matters; ``seed``
    sets the initial weights only."""
    data = torch.Generator().manual_seed(0)
    x = torch.randn(40, 5, generator=data)
    y = x @ torch.randn(5, 2, generator=data)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 2))
    optimizer = torch.optim.RAdam(model.parameters(), lr=1e-2)
    loader = make_loader(TensorDataset(x, y), batch_size=8, device=CPU, shuffle=True)
    return model, optimizer, loader


def _step(model: nn.Module, batch: list[torch.Tensor]) -> torch.Tensor:
    return nn.functional.mse_loss(model(batch[0]), batch[1])


def _fit(workdir: Path | None, *, epochs: int = 3, step=_step, validate=None, init_seed: int = 0, patience=None):
    model, optimizer, loader = _problem(init_seed)
    checkpoints = Checkpoints(workdir, "toy", "run-1")
    state = fit_epochs(
        model,
        optimizer,
        loader,
        step,
        epochs=epochs,
        seed=7,
        device=CPU,
        checkpoints=checkpoints,
        validate=validate,
        patience=patience,
    )
    return model, state


def test_resumed_run_equals_uninterrupted_run(tmp_path: Path) -> None:
    reference, _ = _fit(tmp_path / "a")
    calls = {"n": 0}

    def crashing_step(model: nn.Module, batch: list[torch.Tensor]) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == 12:  # in the third epoch (5 batches per epoch)
            raise _Interrupt
        return _step(model, batch)

    with pytest.raises(_Interrupt):
        _fit(tmp_path / "b", step=crashing_step)
    assert (tmp_path / "b" / "toy-state.safetensors").is_file()
    # a fresh process: different initial weights, which the checkpoint must replace
    resumed, state = _fit(tmp_path / "b", init_seed=1)
    assert [h["epoch"] for h in state.history] == [1, 2, 3] and state.resumed_from == 2
    assert fit_report(state, None, None, 3)["resumed_from_epoch"] == 2
    for a, b in zip(reference.state_dict().values(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_finished_run_is_not_retrained(tmp_path: Path) -> None:
    first, _ = _fit(tmp_path)

    def never(model: nn.Module, batch: list[torch.Tensor]) -> torch.Tensor:
        raise AssertionError("a finished run trained again")

    again, state = _fit(tmp_path, step=never, init_seed=3)
    assert state.epoch == 3
    for a, b in zip(first.state_dict().values(), again.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_other_runs_checkpoint_is_not_resumed(tmp_path: Path) -> None:
    _fit(tmp_path, epochs=2)
    model, optimizer, _ = _problem()
    assert Checkpoints(tmp_path, "toy", "another-run").load_state(model, optimizer) is None
    assert Checkpoints(tmp_path, "toy", "run-1").load_state(model, optimizer).epoch == 2


def _scripted(scores: list[float]):
    """A validator returning ``scores`` in turn and remembering the weights it saw."""
    it = iter(scores)
    snapshots: list[dict[str, torch.Tensor]] = []

    def validate(model: nn.Module) -> float:
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return next(it)

    return validate, snapshots


def test_best_validation_epoch_is_kept(tmp_path: Path) -> None:
    validate, snapshots = _scripted([0.0, 0.1, 0.9, 0.5])  # epoch 0 = before training
    model, state = _fit(tmp_path, validate=validate)
    assert (state.best_epoch, state.best_score, state.stopped) == (2, 0.9, "max_epochs")
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, snapshots[2][key])
    assert (tmp_path / "toy-best.safetensors").is_file()


def test_early_stopping_after_patience_epochs_without_improvement(tmp_path: Path) -> None:
    validate, snapshots = _scripted([0.0, 0.5, 0.7, 0.6, 0.69, 0.7, 0.9, 1.0])
    model, state = _fit(tmp_path, epochs=7, validate=validate, patience=3)
    assert (state.best_epoch, state.epoch, state.stopped) == (2, 5, "early")
    assert [h["score"] for h in state.history] == [0.0, 0.5, 0.7, 0.6, 0.69, 0.7]
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, snapshots[2][key])
    report = fit_report(state, "pearson_gene", 3, 7)
    assert report == {
        "val_score": "pearson_gene",
        "best_epoch": 2,
        "epochs_run": 5,
        "max_epochs": 7,
        "patience": 3,
        "stopped": "early",
        "val_curve": [0.0, 0.5, 0.7, 0.6, 0.69, 0.7],
        "loss_curve": report["loss_curve"],
        "resumed_from_epoch": 0,
    }
    assert len(report["loss_curve"]) == 5
    # an early-stopped run is finished: a rerun resumes nothing and trains nothing

    def never(model: nn.Module, batch: list[torch.Tensor]) -> torch.Tensor:
        raise AssertionError("a finished run trained again")

    _, again = _fit(tmp_path, epochs=7, step=never, validate=validate, patience=3)
    assert (again.epoch, again.best_epoch, again.stopped) == (5, 2, "early")


def test_a_model_that_never_beats_its_start_returns_its_start(tmp_path: Path) -> None:
    validate, snapshots = _scripted([1.0, 0.5, 0.4, 0.3])
    model, state = _fit(None, validate=validate, patience=2)
    assert (state.best_epoch, state.epoch, state.stopped) == (0, 2, "early")
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, snapshots[0][key])


def test_without_validation_trains_the_maximum(tmp_path: Path) -> None:
    _, state = _fit(None, epochs=4, patience=1)
    assert (state.epoch, state.best_epoch, state.stopped) == (4, 4, "no_validation")
    assert fit_report(state, "pearson_gene", 1, 4)["val_score"] is None


def test_row_batches_cover_every_row_once_per_pass() -> None:
    torch.manual_seed(0)
    batches = RowBatches(10, 4)
    rows = [b.tolist() for b in batches]
    assert len(batches) == len(rows) == 2 and all(len(r) == 4 for r in rows)
    assert len(set(sum(rows, []))) == 8
    assert [len(b) for b in RowBatches(3, 4)] == [3]


def test_regression_validator_scores() -> None:
    truth = np.array([[0.0, 1.0], [1.0, 3.0], [2.0, 2.0]], np.float32)
    pred = truth * 2
    assert regression_validator(lambda m: pred, truth, "pearson_gene")(None) == pytest.approx(1.0)
    assert regression_validator(lambda m: pred, truth, "mse")(None) == pytest.approx(-np.mean(truth**2))
    with pytest.raises(StbenchError, match="Unknown validation score"):
        regression_validator(lambda m: pred, truth, "r2")


def test_mean_head_predicts_the_mean() -> None:
    layer = nn.Linear(7, 3)
    init_mean_head(layer, np.array([0.5, 1.0, 2.0], np.float32))
    out = layer(torch.randn(4, 7))
    torch.testing.assert_close(out, torch.tensor([[0.5, 1.0, 2.0]]).expand(4, 3))


def test_pearson_gene_validator_refuses_epochs_worse_than_the_mean_floor() -> None:
    """A prediction that correlates perfectly but errs more than the training mean scores below
    every correlation; one within the floor's L1 scores its per-gene Pearson."""
    from stbench.torchkit.validation import mean_gene_pearson, regression_validator

    rng = np.random.default_rng(0)
    truth = rng.gamma(1.0, 1.0, size=(200, 6))
    floor = truth.mean(axis=0)
    far = 3.0 * (truth - floor) + floor + 5.0  # Pearson 1 per gene, huge L1
    near = 0.5 * (truth - floor) + floor        # Pearson 1 per gene, L1 half the floor's
    assert mean_gene_pearson(far, truth) > 0.999
    guarded = {name: regression_validator(lambda m, p=p: p, truth, "pearson_gene", floor=floor)(None)
               for name, p in (("far", far), ("near", near), ("mean", np.tile(floor, (200, 1))))}
    assert guarded["far"] < -1.0
    assert guarded["near"] > 0.999
    assert abs(guarded["mean"]) < 1e-9  # the floor itself is always admissible (no correlation)
    unguarded = regression_validator(lambda m: far, truth, "pearson_gene")(None)
    assert unguarded > 0.999


def test_slide_colour_standardisation_moves_each_slide_to_the_target_stats():
    """``colour="slide"``: each slide's patches are mapped from their own per-channel mean/std to
    the target's, so two slides that differ only by a stain offset look alike afterwards."""
    from stbench.testing import tiny_spotdata
    from stbench.torchkit.data import COLOUR_TARGET_MEAN, SpotImageDataset

    data = tiny_spotdata(n_slides=2, n_spots=12)
    raw = SpotImageDataset(data, image_size=32, transform=None, with_expression=False, preload=True)
    std = SpotImageDataset(data, image_size=32, transform=None, with_expression=False, preload=True, colour="slide")
    for k in range(2):
        pixels = std.images[k].reshape(-1, 3).astype(np.float64)
        np.testing.assert_allclose(pixels.mean(axis=0), COLOUR_TARGET_MEAN, atol=6.0)
        assert not np.array_equal(std.images[k], raw.images[k])
    with pytest.raises(StbenchError, match="colour"):
        SpotImageDataset(data, image_size=32, transform=None, with_expression=False, preload=True, colour="lab")
