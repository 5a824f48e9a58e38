"""Exact top-k similarity search in bounded memory, and BLEEP's retrieval prediction.

:func:`topk_similar` computes, for every query, the ``k`` reference rows with the largest dot
product, processing queries in chunks of ``query_chunk`` and the reference in chunks of
``reference_chunk``: each (query chunk x reference chunk) block is one matmul + top-k, and the
block's candidates are merged into the running top-k. Peak extra memory is about
``query_chunk * reference_chunk`` scores (4 bytes each: 256 MiB at the defaults), whatever the
sizes of the query and reference sets.

Ties are resolved deterministically: rows are ranked by score, descending, then by reference
index, ascending, exactly as a full stable sort would rank them.
"""

from __future__ import annotations

import numpy as np
import torch


def topk_similar(
    queries: torch.Tensor,
    reference: torch.Tensor,
    k: int,
    *,
    query_chunk: int = 1024,
    reference_chunk: int = 65536,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` most similar reference rows of each query, by dot product.

    Args:
        queries: float (q, d).
        reference: float (n, d), on the same device and dtype.
        k: neighbours per query; capped at n.
        query_chunk, reference_chunk: block sizes (memory ~ their product).
    Returns:
        ``(scores, indices)``: float (q, k) and int64 (q, k), each row ordered by score
        descending, then index ascending.
    """
    n = reference.shape[0]
    k = min(k, n)
    scores_out = torch.empty((queries.shape[0], k), dtype=queries.dtype, device=queries.device)
    index_out = torch.empty((queries.shape[0], k), dtype=torch.int64, device=queries.device)
    for qs in range(0, queries.shape[0], query_chunk):
        q = queries[qs : qs + query_chunk]
        best_s = q.new_empty((len(q), 0))
        best_i = torch.empty((len(q), 0), dtype=torch.int64, device=q.device)
        for rs in range(0, n, reference_chunk):
            sims = q @ reference[rs : rs + reference_chunk].T
            s, i = _block_topk(sims, k)
            best_s, best_i = _merge(torch.cat([best_s, s], 1), torch.cat([best_i, i + rs], 1), k)
        scores_out[qs : qs + len(q)], index_out[qs : qs + len(q)] = best_s, best_i
    return scores_out, index_out


def _block_topk(sims: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k of each row of a block, ties at the k-th score broken towards lower columns.

    ``torch.topk`` picks arbitrarily among equal scores. The choice matters only when a tie
    straddles the cut, i.e. when the (k+1)-th largest score equals the k-th; those rows (rare
    with real embeddings, common with duplicated reference rows) are redone with a stable sort.
    Finding them costs one top-(k+1) instead of another pass over the block.
    """
    if sims.shape[1] <= k:
        order = torch.sort(sims, dim=1, descending=True, stable=True).indices
        return sims.gather(1, order), order
    scores, index = sims.topk(k + 1, dim=1)
    ambiguous = scores[:, k] == scores[:, k - 1]
    scores, index = scores[:, :k], index[:, :k]
    if ambiguous.any():
        rows = ambiguous.nonzero().squeeze(1)
        order = torch.sort(sims[rows], dim=1, descending=True, stable=True).indices[:, :k]
        index[rows] = order
        scores[rows] = sims[rows].gather(1, order)
    return scores, index


def _merge(scores: torch.Tensor, index: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the k best candidates per row, ranked by score desc then index asc."""
    by_index = index.argsort(dim=1, stable=True)
    scores, index = scores.gather(1, by_index), index.gather(1, by_index)
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
    return scores.gather(1, order), index.gather(1, order)


def retrieve_mean(
    queries: torch.Tensor,
    reference: torch.Tensor,
    values: np.ndarray,
    k: int,
    *,
    query_chunk: int = 1024,
    reference_chunk: int = 65536,
) -> np.ndarray:
    """BLEEP's prediction: cosine-similarity top-k retrieval, then the mean of their values.

    Args:
        queries: float (q, d) query embeddings; L2-normalised here.
        reference: float (n, d) reference embeddings; L2-normalised here.
        values: float32 (n, G), the reference rows' expression.
        k: neighbours averaged (capped at n).
    Returns:
        float32 (q, G): for each query, the mean of ``values`` over its k neighbours.
    """
    queries = torch.nn.functional.normalize(queries.float(), dim=1)
    reference = torch.nn.functional.normalize(reference.float(), dim=1)
    out = np.empty((queries.shape[0], values.shape[1]), np.float32)
    for qs in range(0, queries.shape[0], query_chunk):
        _, index = topk_similar(queries[qs : qs + query_chunk], reference, k, reference_chunk=reference_chunk)
        index = index.cpu().numpy()
        acc = np.zeros((index.shape[0], values.shape[1]), np.float64)
        for j in range(index.shape[1]):
            acc += values[index[:, j]]
        out[qs : qs + len(index)] = acc / index.shape[1]
    return out
