"""The DeepSpot network: a shared phi on every tile's features, then rho on the pooled parts."""

from __future__ import annotations

import torch
from torch import nn


class DeepSpotNet(nn.Module):
    """phi(spot) || SUM phi(sub-tiles) || MAX phi(neighbours) -> rho -> expression.

    ``phi = Linear(dim, hidden) -> Dropout(p) -> ReLU`` is shared by the spot, its sub-tiles and
    its neighbours (as in DeepSpot's ``phi_spot``); ``rho = Dropout(p) -> ReLU ->
    Linear(3 * hidden, n_genes)``.

    Args:
        dim: encoder feature length.
        hidden: phi's output width (512 in DeepSpot).
        n_genes: genes on the panel.
        dropout: p of both dropout layers (0.3 in DeepSpot).
    """

    def __init__(self, dim: int, hidden: int, n_genes: int, dropout: float) -> None:
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(dim, hidden), nn.Dropout(dropout), nn.ReLU())
        self.rho = nn.Sequential(nn.Dropout(dropout), nn.ReLU(), nn.Linear(3 * hidden, n_genes))

    def forward(
        self, spot: torch.Tensor, subtiles: torch.Tensor, neighbours: torch.Tensor, valid: torch.Tensor
    ) -> torch.Tensor:
        """Expression (b, n_genes) in log1p space.

        Args:
            spot: (b, dim) features of the spot patch.
            subtiles: (b, t, dim) features of its sub-tiles.
            neighbours: (b, k, dim) features of its neighbours, padded.
            valid: bool (b, k), which neighbour rows take part in the max (at least one per row).
        """
        pooled_neighbours = self.phi(neighbours).masked_fill(~valid[..., None], float("-inf")).amax(dim=1)
        parts = (self.phi(spot), self.phi(subtiles).sum(dim=1), pooled_neighbours)
        return self.rho(torch.cat(parts, dim=1))
