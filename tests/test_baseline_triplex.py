"""The ``triplex`` baseline: window and grid assembly, the network's parts, its loss, conformance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines.slide_grid import grid_positions
from baselines.triplex import SMALL, TriplexNet, TriplexPredictor, triplex_loss
from baselines.triplex.model import APEG, RelativeBias
from baselines.triplex.window import neighbour_window
from stbench import SpotData, check_predictor
from stbench.testing import tiny_split


@pytest.fixture(autouse=True)
def _features_root(tmp_path, monkeypatch):
    monkeypatch.setenv("STBENCH_FEATURES", str(tmp_path / "features"))


def square_grid(n: int, spacing: float) -> np.ndarray:
    """(n * n, 2) centres of an n x n square array, row-major from (0, 0)."""
    y, x = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return np.stack([x.ravel(), y.ravel()], 1) * spacing


def hex_grid(rows: int, cols: int, spacing: float) -> np.ndarray:
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    return np.stack([(c * spacing + (r % 2) * spacing / 2).ravel(), (r * spacing * np.sqrt(3) / 2).ravel()], 1)


def test_window_on_a_square_array_holds_the_array_neighbours():
    coords = square_grid(7, 200.0)
    window = neighbour_window(coords, 200.0, 5)
    centre = 3 * 7 + 3  # the middle spot sees the 5 x 5 block around it, row-major
    expected = [(3 + dy) * 7 + (3 + dx) for dy in range(-2, 3) for dx in range(-2, 3)]
    np.testing.assert_array_equal(window[centre], expected)
    corner = window[0].reshape(5, 5)  # spot (0, 0): only the lower-right 3 x 3 quadrant exists
    assert (corner[:2] == -1).all() and (corner[:, :2] == -1).all()
    np.testing.assert_array_equal(corner[2:, 2:], [[0, 1, 2], [7, 8, 9], [14, 15, 16]])


def test_window_on_a_hexagonal_lattice_never_repeats_the_centre_and_finds_the_row_neighbours():
    coords = hex_grid(9, 9, 100.0)
    window = neighbour_window(coords, 100.0, 5)
    middle = 4 * 9 + 4
    row = window[middle].reshape(5, 5)[2]
    np.testing.assert_array_equal(row, [middle - 2, middle - 1, middle, middle + 1, middle + 2])
    filled = window[middle][window[middle] >= 0]
    assert len(filled) >= 20 and (filled == middle).sum() == 1


def test_window_of_a_single_spot_is_its_centre_only():
    window = neighbour_window(np.zeros((1, 2)), float("nan"), 5)
    assert window[0, 12] == 0 and (np.delete(window[0], 12) == -1).all()


def test_grid_positions_are_array_indices_on_st_and_distinct_at_half_spacing_on_visium():
    coords = square_grid(4, 200.0) + [1000.0, 3000.0]
    np.testing.assert_array_equal(grid_positions(coords, 200.0, 1.0), square_grid(4, 1.0))
    hexagonal = hex_grid(10, 10, 100.0)
    cells = grid_positions(hexagonal, 100.0, 0.5)
    assert len({tuple(c) for c in cells}) == len(hexagonal)
    assert (grid_positions(np.zeros((3, 2)), float("nan"), 1.0) == 0).all()


def test_relative_bias_depends_only_on_the_absolute_offset():
    bias = RelativeBias(heads=2, side=3)
    with torch.no_grad():
        bias.biases.copy_(torch.arange(18.0).view(2, 9))
    table = bias()
    assert table.shape == (2, 9, 9)
    torch.testing.assert_close(table, table.transpose(1, 2))  # |offset| is symmetric
    assert table[0, 0, 4] == table[0, 4, 8]  # (0,0)->(1,1) and (1,1)->(2,2): both offset (1, 1)


def test_apeg_averages_shared_cells_and_convolves_over_the_grid():
    torch.manual_seed(0)
    apeg = APEG(dim=2, kernel=3)
    x = torch.randn(4, 2)
    cells = torch.tensor([[0, 0], [1, 0], [1, 0], [3, 2]])
    out = apeg(x, cells)
    grid = torch.zeros(1, 2, 3, 4)
    grid[0, :, 0, 0], grid[0, :, 0, 1], grid[0, :, 2, 3] = x[0], (x[1] + x[2]) / 2, x[3]
    manual = apeg.proj(grid)[0]
    torch.testing.assert_close(out[0], manual[:, 0, 0])
    torch.testing.assert_close(out[1], out[2])
    torch.testing.assert_close(out[3], manual[:, 2, 3])


def test_the_untrained_network_predicts_the_training_mean_with_every_head():
    mean = np.array([0.5, 1.5, 2.5], np.float32)
    net = TriplexNet(6, 3, SMALL, mean).eval()
    tokens = net.encode_slide(torch.randn(5, 6), torch.tensor([[0, 0], [1, 0], [2, 0], [0, 1], [1, 1]]))
    valid = torch.zeros(5, 25, dtype=torch.bool)
    valid[:, 12] = True
    with torch.no_grad():
        out = net(torch.randn(5, 10, 6), torch.randn(5, 25, 6), valid, tokens)
    for name in ("fusion", "target", "neighbour", "global"):
        torch.testing.assert_close(out[name], torch.from_numpy(mean).expand(5, 3))


def test_fusion_loss_is_the_supervised_plus_distillation_sum():
    y = torch.zeros(2, 3)
    outputs = {
        "fusion": torch.full((2, 3), 1.0),
        "target": torch.full((2, 3), 2.0),
        "neighbour": torch.zeros(2, 3),
        "global": torch.full((2, 3), 3.0),
    }
    expected = 1.0 + sum(0.7 * b**2 + 0.3 * (1.0 - b) ** 2 for b in (2.0, 0.0, 3.0))
    assert float(triplex_loss(outputs, y, 0.3)) == pytest.approx(expected)


def test_a_slide_is_predicted_from_its_own_context_only():
    train, val, test = tiny_split(0)
    model = TriplexPredictor("small", epochs=2).fit(train, val)
    together = model.predict(SpotData(test.genes, train.slides[:1] + test.slides).hide_expression())
    alone = model.predict(test.hide_expression())
    np.testing.assert_allclose(together[train.slides[0].n_spots :], alone, rtol=1e-5, atol=1e-6)


def test_epoch_zero_is_the_mean():
    train, val, test = tiny_split(0)
    model = TriplexPredictor("small", epochs=0).fit(train, val)
    pred = model.predict(test.hide_expression())
    mean = train.expression().mean(axis=0)
    np.testing.assert_allclose(pred, np.broadcast_to(mean, pred.shape), atol=1e-5)
    assert model.fit_report["val_curve"] == [0.0]


def test_triplex_conforms():
    check_predictor(TriplexPredictor)


def test_registered_from_the_baselines_distribution():
    from stbench import registry

    assert registry.available()["triplex"].distribution == "stbench-baselines"
