"""Torch engine: the same :class:`~stbench.metrics.regression.RegressionState` as the
NumPy engine, computed on a torch device (a GPU, or the CPU for testing).

Used by :class:`~stbench.metrics.streaming.RegressionAccumulator` for ``device="cuda"``,
``"cuda:N"`` or ``"torch-cpu"``.  A chunk is moved to the device in blocks of about
``BLOCK_ELEMENTS`` values; only the per-spot scores, (metrics, spots), and the per-gene
sums, (genes,), come back.  The rules are those of the NumPy engine
(:mod:`stbench.metrics.regression`, :mod:`stbench.metrics.ranking`):

* ranking on float32-rounded values, through the same order codes; rows are fully
  sorted (cheap on a GPU) to find each k-th value and the genes tied at it;
* recall as the expected overlap under random tie-breaking, Spearman over every gene
  valued at least the k-th true value, with tie-averaged ranks (from two
  ``searchsorted``), nothing depending on gene order (:mod:`stbench.metrics.spot_scores`);
* float64 for L1, correlations and the per-gene sums (about the first block's means);
* constant truth excluded (NaN), constant prediction scores 0.

Results match the NumPy engine up to float64 summation order (~1e-15).  PyTorch is
imported only when this engine is used.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from stbench.errors import StbenchError
from stbench.metrics.gene_moments import GeneMoments, GeneSums
from stbench.metrics.regression import RegressionState, spot_row_keys, state_from_scores
from stbench.metrics.inputs import check_pair

if TYPE_CHECKING:
    import torch

BLOCK_ELEMENTS = 1 << 21
TORCH_DEVICES = ("torch-cpu", "cuda", "cuda:N")


def torch_device(name: str) -> torch.device:
    """The torch device for an accumulator ``device``: ``"torch-cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Raises :class:`StbenchError` for other names, or if PyTorch or the GPU is missing.
    """
    if not isinstance(name, str) or (name != "torch-cpu" and not re.fullmatch(r"cuda(:\d+)?", name)):
        raise StbenchError(f"Unknown metrics device {name!r}; use None/'cpu' (NumPy) or one of {TORCH_DEVICES}.")
    try:
        import torch
    except ImportError as err:
        raise StbenchError(f"Metrics device {name!r} needs PyTorch, which is not installed.") from err
    if name == "torch-cpu":
        return torch.device("cpu")
    device = torch.device(name)
    if not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count():
        raise StbenchError(f"Metrics device {name!r} requested, but that CUDA device is not available.")
    return device


def check_inputs(
    y_true: object, y_pred: object, n_genes: int
) -> tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor]:
    """Validate a pair like :func:`~stbench.metrics.inputs.check_pair`.

    Torch tensors (on any device) are accepted too, as a pair: float32/float64 stay as
    they are, integer and other float types become float64.
    """
    import torch

    tensors = [isinstance(x, torch.Tensor) for x in (y_true, y_pred)]
    if not any(tensors):
        return check_pair(y_true, y_pred, n_genes)
    if not all(tensors):
        raise StbenchError("y_true and y_pred must both be torch tensors or both be arrays.")
    pair = []
    for name, x in (("y_true", y_true), ("y_pred", y_pred)):
        if x.dtype == torch.bool or x.dtype.is_complex:
            raise StbenchError(f"{name} must hold real numbers, got dtype {x.dtype}.")
        pair.append(x if x.dtype in (torch.float32, torch.float64) else x.double())
    # Shape checks on zero-memory stand-ins of the same shape.
    check_pair(*(np.broadcast_to(np.float32(0), tuple(x.shape)) for x in pair), n_genes)
    return pair[0], pair[1]


def torch_regression_state(
    y_true: np.ndarray | torch.Tensor, y_pred: np.ndarray | torch.Tensor, ks: tuple[int, ...], device: torch.device
) -> RegressionState:
    """Summarise a checked (spots >= 1, genes) pair on ``device``, block by block.

    Same result as :func:`~stbench.metrics.regression.regression_state`.  Raises
    :class:`StbenchError` on NaN or infinite values.
    """
    import torch

    n_spots, n_genes = y_true.shape
    rows = max(1, BLOCK_ELEMENTS // n_genes)
    keys = spot_row_keys(ks)
    scores = torch.empty((len(keys), n_spots), dtype=torch.float64, device=device)
    genes = _DeviceGeneSums(n_genes, device)
    for start in range(0, n_spots, rows):
        t = _on_device(y_true[start : start + rows], device)
        p = _on_device(y_pred[start : start + rows], device)
        if not bool(torch.isfinite(torch.stack([t.sum().double(), p.sum().double()])).all()):
            raise StbenchError("Expression arrays contain NaN, infinite or out-of-range values.")
        t64, p64 = t.double(), p.double()  # may alias float64 inputs: never written to
        block = _spot_scores(t, p, t64, p64, ks)
        for row, key in enumerate(keys):
            scores[row, start : start + t.shape[0]] = block[key]
        genes.add(t, p, t64, p64)
    return state_from_scores(ks, scores.cpu().numpy(), genes.moments())


def _on_device(x: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    import torch

    if isinstance(x, torch.Tensor):
        return x.to(device)
    return torch.as_tensor(np.ascontiguousarray(x), device=device)


def _spot_scores(
    t: torch.Tensor, p: torch.Tensor, t64: torch.Tensor, p64: torch.Tensor, ks: Sequence[int]
) -> dict[str, torch.Tensor]:
    """Per-spot scores of a (spots, genes) block; float64 tensors of shape (spots,).

    As :func:`stbench.metrics.spot_scores.spot_scores`; ``t64``/``p64`` are the block in
    float64.
    """
    import torch

    n_genes = t.shape[1]
    ct = t64 - t64.mean(dim=1, keepdim=True)
    cp = p64 - p64.mean(dim=1, keepdim=True)
    scores = {
        "l1": (t64 - p64).abs_().mean(dim=1),
        "pearson": _correlation(ct, cp, _constant_rows(t), _constant_rows(p)),
    }
    del ct, cp
    constant_spot = torch.isnan(scores["pearson"])
    capped = {k: min(k, n_genes) for k in ks}
    k_list = sorted(set(capped.values()))
    true_codes, true_cols = _order_codes(t).sort(dim=1, descending=True)  # best first
    pred_all = _order_codes(p)
    pred_sorted = pred_all.sort(dim=1, descending=True).values
    by_k = {}
    for kc in k_list:
        true_value, true_above, true_at_least = _cut(true_codes, kc)
        pred_value, pred_above, pred_at_least = _cut(pred_sorted, kc)
        width = int(true_at_least.max())  # the first ``width`` genes hold every spot's block
        t_codes = true_codes[:, :width]
        p_codes = torch.gather(pred_all, 1, true_cols[:, :width])
        inside = torch.arange(width, device=t.device) < true_at_least[:, None]
        # Expected overlap: chance in the true top k times chance in the predicted top k.
        true_chance = _top_k_chance(t_codes, kc, true_value, true_above, true_at_least)
        pred_chance = _top_k_chance(p_codes, kc, pred_value, pred_above, pred_at_least)
        recall = (true_chance * pred_chance).sum(dim=1) / kc
        # Spearman over the block; genes after it get a code below every real one.
        outside_code = torch.iinfo(torch.int32).min
        rank_t = _block_ranks(torch.where(inside, t_codes, outside_code), inside)
        block_p = torch.where(inside, p_codes, outside_code)
        rank_p = _block_ranks(block_p, inside)
        pred_high = block_p.amax(dim=1)
        pred_low = torch.where(inside, p_codes, torch.iinfo(torch.int64).max).amin(dim=1)
        spearman = _correlation(rank_t, rank_p, true_value == t_codes[:, 0], pred_low == pred_high)
        tied = (true_at_least > kc) & ~constant_spot
        nan = float("nan")
        by_k[kc] = (spearman.masked_fill(constant_spot, nan), recall.masked_fill(constant_spot, nan), tied.double())
    for k, kc in capped.items():
        scores[f"spearman_{k}"], scores[f"recall_{k}"], scores[f"tied_top_{k}"] = by_k[kc]
    return scores


def _order_codes(x: torch.Tensor) -> torch.Tensor:
    """int64 codes with the order and equality of ``float32(x)`` (as
    :func:`stbench.metrics.ranking.order_codes`)."""
    import torch

    bits = (x.float() + 0.0).view(torch.int32)  # + 0.0 turns -0.0 into 0.0
    return torch.where(bits < 0, -(bits & 0x7FFFFFFF), bits).long()  # negatives: decreasing magnitude


def _cut(codes: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(k-th value, above, at_least)`` per row of (spots, genes) codes sorted decreasing."""
    value = codes[:, k - 1]
    return value, (codes > value[:, None]).sum(dim=1), (codes >= value[:, None]).sum(dim=1)


def _top_k_chance(
    codes: torch.Tensor, k: int, value: torch.Tensor, above: torch.Tensor, at_least: torch.Tensor
) -> torch.Tensor:
    """Each gene's chance of being in its row's top k under random tie-breaking (float64)."""
    import torch

    share = (k - above).double() / (at_least - above).double()
    return torch.where(codes > value[:, None], 1.0, (codes == value[:, None]) * share[:, None])


def _block_ranks(codes: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """Tie-averaged ranks of each row's block (``inside``), centred over the block, 0 outside.

    Entries outside hold a code below every real one, so they only shift the block's
    ranks, by half their number.
    """
    n_outside = (~inside).sum(dim=1, keepdim=True)
    ranks = _centred_ranks(codes) - n_outside * 0.5
    return ranks.masked_fill_(~inside, 0.0)


def _centred_ranks(codes: torch.Tensor) -> torch.Tensor:
    """Tie-averaged ranks of each row of a (rows, k) integer block, minus (k - 1) / 2; float64."""
    import torch

    codes = codes.contiguous()
    ordered = codes.sort(dim=1).values
    below = torch.searchsorted(ordered, codes)  # entries smaller than each value
    up_to = torch.searchsorted(ordered, codes, right=True)  # ... smaller or equal
    return (below + up_to - 1).double() * 0.5 - (codes.shape[1] - 1) * 0.5


def _constant_rows(x: torch.Tensor) -> torch.Tensor:
    return x.amin(dim=1) == x.amax(dim=1)


def _correlation(
    ct: torch.Tensor, cp: torch.Tensor, true_constant: torch.Tensor, pred_constant: torch.Tensor
) -> torch.Tensor:
    """Row-wise Pearson of mean-centred float64 (rows, n) blocks, with the rules of
    :func:`stbench.metrics.correlation.correlation` (NaN: constant truth, 0: constant
    prediction)."""
    import torch

    cross = torch.linalg.vecdot(ct, cp)
    denom = torch.sqrt(torch.linalg.vecdot(ct, ct) * torch.linalg.vecdot(cp, cp))
    scored = ~true_constant & ~pred_constant & (denom > 0)
    r = torch.where(scored, cross / torch.where(scored, denom, 1.0), 0.0).clamp_(-1.0, 1.0)
    return r.masked_fill_(true_constant, float("nan"))


class _DeviceGeneSums:
    """:class:`~stbench.metrics.gene_moments.GeneSums` with the sums kept on the device.

    ``sums`` rows (genes,) float64: sum dt, sum dp, sum dt², sum dp², sum dt·dp, where
    d is the value minus the first block's column mean.
    """

    def __init__(self, n_genes: int, device: torch.device) -> None:
        import torch

        self.n = 0
        self.shift: torch.Tensor | None = None  # (2, genes)
        self.sums = torch.zeros((5, n_genes), dtype=torch.float64, device=device)
        self.low = torch.full((2, n_genes), float("inf"), dtype=torch.float64, device=device)
        self.high = torch.full((2, n_genes), float("-inf"), dtype=torch.float64, device=device)

    def add(self, t: torch.Tensor, p: torch.Tensor, t64: torch.Tensor, p64: torch.Tensor) -> None:
        """Add a (spots >= 1, genes) block, given also in float64."""
        import torch

        if self.shift is None:
            self.shift = torch.stack([t64.mean(dim=0), p64.mean(dim=0)])
        self.n += t.shape[0]
        dt, dp = t64 - self.shift[0], p64 - self.shift[1]
        self.sums += torch.stack([dt.sum(0), dp.sum(0), (dt * dt).sum(0), (dp * dp).sum(0), (dt * dp).sum(0)])
        self.low = torch.minimum(self.low, torch.stack([t.amin(0).double(), p.amin(0).double()]))
        self.high = torch.maximum(self.high, torch.stack([t.amax(0).double(), p.amax(0).double()]))

    def moments(self) -> GeneMoments:
        """The pooled moments, on the host (same formulas as ``GeneSums.moments``)."""
        host = GeneSums(self.sums.shape[1])
        host.n = self.n
        host.shift_t, host.shift_p = self.shift.cpu().numpy()
        host.sum_t, host.sum_p, host.sum_tt, host.sum_pp, host.sum_tp = self.sums.cpu().numpy()
        host.min_t, host.min_p = self.low.cpu().numpy()
        host.max_t, host.max_p = self.high.cpu().numpy()
        return host.moments()
