"""BLEEP: exact batched retrieval (== brute force, ties included), the loss, conformance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines.bleep import BLEEPPredictor, ProjectionHead, bleep_loss, retrieve_mean, topk_similar
from stbench.check import check_predictor


def brute_force_topk(queries: np.ndarray, reference: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Full score matrix, each row ranked by score descending then index ascending."""
    scores = queries.astype(np.float64) @ reference.astype(np.float64).T
    index = np.stack([np.lexsort((np.arange(len(row)), -row))[:k] for row in scores])
    return np.take_along_axis(scores, index, 1), index


@pytest.mark.parametrize("chunks", [(3, 7), (1, 1), (100, 1000)])
def test_topk_equals_brute_force_on_random_embeddings(chunks: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    queries, reference = rng.normal(size=(23, 16)), rng.normal(size=(61, 16))
    scores, index = topk_similar(
        torch.from_numpy(queries).float(),
        torch.from_numpy(reference).float(),
        5,
        query_chunk=chunks[0],
        reference_chunk=chunks[1],
    )
    expected_scores, expected_index = brute_force_topk(queries.astype(np.float32), reference.astype(np.float32), 5)
    np.testing.assert_array_equal(index.numpy(), expected_index)
    np.testing.assert_allclose(scores.numpy(), expected_scores, rtol=1e-5)


@pytest.mark.parametrize("chunks", [(4, 5), (2, 3), (64, 64)])
def test_ties_are_broken_towards_lower_reference_indices(chunks: tuple[int, int]) -> None:
    # small integer vectors: exact dot products and many ties, plus duplicated reference rows
    rng = np.random.default_rng(1)
    reference = rng.integers(-1, 2, size=(40, 3)).astype(np.float32)
    reference[20:30] = reference[0]
    queries = rng.integers(-1, 2, size=(17, 3)).astype(np.float32)
    _, index = topk_similar(
        torch.from_numpy(queries), torch.from_numpy(reference), 8, query_chunk=chunks[0], reference_chunk=chunks[1]
    )
    np.testing.assert_array_equal(index.numpy(), brute_force_topk(queries, reference, 8)[1])


def test_k_larger_than_the_reference_returns_every_row() -> None:
    _, index = topk_similar(torch.eye(3)[:2], torch.eye(3), 50)
    assert index.shape == (2, 3)
    np.testing.assert_array_equal(index.numpy(), [[0, 1, 2], [1, 0, 2]])


def test_retrieve_mean_averages_the_neighbours_by_cosine() -> None:
    rng = np.random.default_rng(2)
    queries, reference = rng.normal(size=(9, 4)), rng.normal(size=(30, 4))
    values = rng.normal(size=(30, 6)).astype(np.float32)
    out = retrieve_mean(
        torch.from_numpy(queries), torch.from_numpy(reference), values, 4, query_chunk=4, reference_chunk=7
    )
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    _, index = brute_force_topk(unit(queries), unit(reference), 4)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, values[index].mean(axis=1), rtol=1e-5, atol=1e-6)


def test_bleep_loss_matches_a_hand_computation() -> None:
    img = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    spot = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    logits = spot.numpy() @ img.numpy().T
    sim = (img.numpy() @ img.numpy().T + spot.numpy() @ spot.numpy().T) / 2
    targets = np.exp(sim) / np.exp(sim).sum(1, keepdims=True)
    log_sm = lambda a: a - np.log(np.exp(a).sum(1, keepdims=True))  # noqa: E731
    spots_loss = -(targets * log_sm(logits)).sum(1)
    images_loss = -(targets.T * log_sm(logits.T)).sum(1)
    expected = ((spots_loss + images_loss) / 2).mean()
    assert bleep_loss(img, spot, 1.0).item() == pytest.approx(expected, rel=1e-6)


def test_projection_head_layout() -> None:
    head = ProjectionHead(5, 3, 0.1).eval()
    x = torch.randn(2, 5)
    p = head.projection(x)
    expected = head.norm(p + head.fc(torch.nn.functional.gelu(p)))
    torch.testing.assert_close(head(x), expected)


def test_bleep_conforms() -> None:
    check_predictor(BLEEPPredictor)
