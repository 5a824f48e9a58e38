"""The ``deepspot`` baseline: neighbour sets, input assembly, the network, conformance."""

from __future__ import annotations

import numpy as np
import pytest

from baselines.deepspot import DeepSpotPredictor
from baselines.deepspot.neighbours import RADIUS_TOLERANCE, neighbour_sets, neighbour_table
from baselines.deepspot.predictor import _SpotInputs
from stbench import SpotData, check_predictor
from stbench.data.spots import in_memory_slide
from stbench.testing import tiny_split, tiny_spotdata


@pytest.fixture(autouse=True)
def _features_root(tmp_path, monkeypatch):
    monkeypatch.setenv("STBENCH_FEATURES", str(tmp_path / "features"))


def brute_force(coords: np.ndarray, radius: float) -> list[np.ndarray]:
    d = np.sqrt(((coords[:, None, :] - coords[None, :, :]) ** 2).sum(-1))
    near = d <= radius * (1 + RADIUS_TOLERANCE)
    np.fill_diagonal(near, False)
    return [np.flatnonzero(row) for row in near]


def hex_grid(rows: int, cols: int, spacing: float) -> np.ndarray:
    """Visium-like hexagonal lattice, nearest-neighbour distance ``spacing``."""
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    x = c * spacing + (r % 2) * spacing / 2
    y = r * spacing * np.sqrt(3) / 2
    return np.stack([x.ravel(), y.ravel()], 1)


@pytest.mark.parametrize(
    "coords",
    [
        np.random.default_rng(0).uniform(0, 1000, (300, 2)),
        hex_grid(12, 12, 100.0),
        np.stack(np.meshgrid(np.arange(10.0), np.arange(10.0)), -1).reshape(-1, 2) * 200,
        np.array([[0.0, 0.0], [0.0, 0.0], [5000.0, 5000.0]]),  # duplicates and an isolated spot
    ],
    ids=["random", "hex", "square", "duplicates"],
)
def test_neighbour_sets_equal_brute_force(coords):
    spacing = in_memory_slide("s", np.zeros((len(coords), 1, 1, 3), np.uint8), None, coords).spot_spacing()
    spacing = spacing if spacing > 0 else 100.0
    radius = 3 * spacing
    got = neighbour_sets(coords, radius)
    want = brute_force(coords, radius)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_neighbour_counts_on_standard_grids():
    hexagonal = neighbour_sets(hex_grid(15, 15, 100.0), 300.0)
    square = neighbour_sets(np.stack(np.meshgrid(np.arange(11.0), np.arange(11.0)), -1).reshape(-1, 2), 3.0)
    assert len(hexagonal[7 * 15 + 7]) == 36  # Visium: three hexagonal rings
    assert len(square[5 * 11 + 5]) == 28  # ST: lattice points within 3 steps, minus itself


def test_no_neighbours_for_a_single_spot_or_bad_radius():
    assert [len(s) for s in neighbour_sets(np.zeros((1, 2)), float("nan"))] == [0]
    assert [len(s) for s in neighbour_sets(np.zeros((2, 2)), -1.0)] == [0, 0]
    assert neighbour_sets(np.zeros((0, 2)), 1.0) == []


def test_neighbour_table_is_csr():
    indptr, indices = neighbour_table([np.array([1, 2]), np.array([], np.int64), np.array([0])])
    np.testing.assert_array_equal(indptr, [0, 2, 2, 3])
    np.testing.assert_array_equal(indices, [1, 2, 0])


def test_inputs_gather_neighbours_and_fill_isolated_spots_with_zeros():
    import torch

    spot = torch.arange(12, dtype=torch.float32).reshape(4, 3) + 1
    subtiles = torch.zeros(4, 9, 3)
    indptr, indices = neighbour_table([np.array([1, 2]), np.array([0]), np.array([0]), np.zeros(0, np.int64)])
    inputs = _SpotInputs(spot, subtiles, indptr, indices, "cpu")
    s, _, neighbours, valid = inputs(np.array([0, 1, 3]))
    torch.testing.assert_close(s, spot[[0, 1, 3]])
    assert neighbours.shape == (3, 2, 3)
    torch.testing.assert_close(neighbours[0], spot[[1, 2]])
    torch.testing.assert_close(neighbours[1], torch.stack([spot[0], torch.zeros(3)]))
    torch.testing.assert_close(neighbours[2], torch.zeros(2, 3))
    assert valid.tolist() == [[True, True], [True, False], [True, False]]


def test_max_pooling_ignores_padding():
    import torch

    from baselines.deepspot.model import DeepSpotNet

    net = DeepSpotNet(dim=3, hidden=4, n_genes=2, dropout=0.3).eval()
    spot, subtiles = torch.randn(1, 3), torch.randn(1, 9, 3)
    neighbours = torch.randn(1, 2, 3)
    valid = torch.tensor([[True, False]])
    padded = torch.cat([neighbours, torch.full((1, 3, 3), 100.0)], 1)
    with torch.inference_mode():
        a = net(spot, subtiles, neighbours[:, :1], valid[:, :1])
        b = net(spot, subtiles, padded, torch.tensor([[True, False, False, False, False]]))
    torch.testing.assert_close(a, b)


def test_conforms():
    check_predictor(DeepSpotPredictor)


def test_predicts_a_one_spot_slide():
    train, val, _ = tiny_split(0)
    lone = tiny_spotdata(n_slides=1, n_spots=1, n_genes=train.n_genes, seed=5)
    pred = (
        DeepSpotPredictor("small", epochs=1)
        .fit(train, val)
        .predict(SpotData(train.genes, lone.slides).hide_expression())
    )
    assert pred.shape == (1, train.n_genes) and np.isfinite(pred).all()


def test_paper_profile_is_the_common_protocol():
    cfg = DeepSpotPredictor("paper").get_config()
    assert (cfg["epochs"], cfg["optimizer"], cfg["lr"], cfg["weight_decay"]) == (100, "radam", 1e-4, 1e-4)
    assert (cfg["encoder"], cfg["hidden"], cfg["dropout"], cfg["neighbour_radius"], cfg["subtiles"]) == (
        "uni",
        512,
        0.3,
        3.0,
        3,
    )


def test_untrained_model_predicts_the_training_mean():
    train, _, test = tiny_split(0)
    model = DeepSpotPredictor("small", epochs=0).fit(train)
    pred = model.predict(test.hide_expression())
    np.testing.assert_allclose(pred, np.broadcast_to(train.expression().mean(axis=0), pred.shape), atol=1e-5)


def test_fit_report_records_early_stopping():
    train, val, _ = tiny_split(0)
    report = DeepSpotPredictor("small", epochs=5, patience=2).fit(train, val).fit_report
    assert report["val_score"] == "pearson_gene" and report["max_epochs"] == 5
    assert report["stopped"] in ("early", "max_epochs") and len(report["val_curve"]) == report["epochs_run"] + 1
