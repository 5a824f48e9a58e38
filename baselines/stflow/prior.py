"""STFlow's source distribution: a per-gene zero-inflated negative binomial (ZINB), fitted to training spots."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

MAX_DISPERSION = 1e6
"""NB shape r used when a gene's non-zero values are not over-dispersed (NB -> Poisson)."""


@dataclass(frozen=True)
class ZINBPrior:
    """Per-gene ZINB over normalised counts (``expm1`` of log1p expression), sampled in log1p space.

    Fitted by moments (our choice; STFlow fits its prior to the training data, method not
    stated): the zero-inflation ``zero`` is the gene's fraction of zero spots; the negative
    binomial (mean ``mu``, shape ``r``) matches the mean and variance of the gene's non-zero
    values, with ``r = mu^2 / (var - mu)`` (at most :data:`MAX_DISPERSION`). A gene that is
    zero everywhere gets ``zero = 1``.

    Attributes:
        zero, mu, r: float32 (G,).
    """

    zero: np.ndarray
    mu: np.ndarray
    r: np.ndarray

    @classmethod
    def fit(cls, expression: np.ndarray) -> ZINBPrior:
        """From float (n_spots, G) log1p expression."""
        counts = np.expm1(np.asarray(expression, np.float64))
        nonzero = counts > 0
        k = nonzero.sum(axis=0)
        zero = 1.0 - k / max(1, len(counts))
        total = np.where(nonzero, counts, 0.0)
        mu = np.divide(total.sum(axis=0), k, out=np.ones(counts.shape[1]), where=k > 0)
        sq = np.where(nonzero, (counts - mu) ** 2, 0.0).sum(axis=0)
        var = np.divide(sq, k, out=np.zeros(counts.shape[1]), where=k > 0)
        excess = var - mu
        r = np.where(excess > 0, mu**2 / np.where(excess > 0, excess, 1.0), MAX_DISPERSION)
        r = np.clip(r, 1e-3, MAX_DISPERSION)
        return cls(zero.astype(np.float32), mu.astype(np.float32), r.astype(np.float32))

    def sample(self, n: int) -> torch.Tensor:
        """float32 (n, G) CPU tensor of log1p(ZINB draws), from torch's global RNG (the caller
        seeds it): a gamma-Poisson negative binomial, zeroed with probability ``zero``."""
        r = torch.from_numpy(self.r).expand(n, -1)
        rate = torch.from_numpy(self.r / np.maximum(self.mu, 1e-8)).expand(n, -1)
        counts = torch.poisson(torch.distributions.Gamma(r, rate).sample())
        keep = torch.rand(n, len(self.zero)) >= torch.from_numpy(self.zero)
        return torch.log1p(counts * keep)


BANK_ROWS = 512
"""Rows of prior draws kept by :class:`PriorBank`."""


@dataclass(frozen=True)
class PriorBank:
    """Draws of a prior made once (``BANK_ROWS`` x G), resampled gene by gene.

    Drawing gamma-Poisson variates for every spot at every training step cost more than the
    network itself on a CPU; a sample here takes, for each spot and gene independently, that
    gene's value in a uniformly chosen bank row: each gene's marginal is the empirical
    distribution of ``BANK_ROWS`` prior draws (genes are independent in the prior either way).

    Attributes:
        bank: float32 (rows, G) CPU tensor of prior draws in log1p space.
    """

    bank: torch.Tensor

    @classmethod
    def draw(cls, prior: ZINBPrior, rows: int = BANK_ROWS) -> PriorBank:
        """``rows`` draws of ``prior`` from torch's global RNG (the caller seeds it)."""
        return cls(prior.sample(rows))

    def sample(self, n: int) -> torch.Tensor:
        """float32 (n, G) CPU tensor, from torch's global RNG (the caller seeds it)."""
        idx = torch.randint(0, self.bank.shape[0], (n, self.bank.shape[1]))
        return self.bank.gather(0, idx)
