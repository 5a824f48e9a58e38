"""Gaussian diffusion (DDPM) over a spot's standardised expression residual, as Stem uses it.

Stem (Zhu et al., ICLR 2025; github.com/SichenZhu/Stem, ``Stem/diffusion/__init__.py``) builds
DiT's diffusion: 1000 steps, the ``linear`` beta schedule (beta from 1e-4 to 0.02, scaled by
1000 / steps), MSE on the network's target, ancestral sampling (``p_sample_loop``, no clipping)
over ``--num_sampling_steps`` (default 1000) respaced steps. This module implements that
schedule, the forward noising and the respaced ancestral sampler; the network's target is the
noise (``epsilon``, Stem's choice) or the clean sample (``x0``). The reverse variance is the
fixed posterior variance (Stem learns it within [posterior, beta], see the predictor docstring).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

PARAMETRISATIONS = ("epsilon", "x0")


def linear_betas(steps: int) -> np.ndarray:
    """float64 (steps,): DDPM's linear schedule, 1e-4 .. 0.02 for 1000 steps (scaled by 1000/steps)."""
    scale = 1000.0 / steps
    return np.linspace(scale * 1e-4, scale * 0.02, steps, dtype=np.float64)


def respaced(steps: int, sampling_steps: int) -> np.ndarray:
    """int64 (sampling_steps,): evenly spaced, increasing timesteps of the full chain (0 and
    ``steps - 1`` included), as DiT's ``space_timesteps(steps, str(sampling_steps))``."""
    if not 1 <= sampling_steps <= steps:
        raise ValueError(f"sampling_steps must be in 1..{steps}, got {sampling_steps}")
    if sampling_steps == 1:
        return np.array([0], np.int64)
    stride = (steps - 1) / (sampling_steps - 1)
    return np.round(np.arange(sampling_steps) * stride).astype(np.int64)


@dataclass(frozen=True)
class Diffusion:
    """The noise schedule of the full chain and its training loss.

    Attributes:
        steps: length of the chain (1000 in Stem).
        parametrisation: the network's target, ``epsilon`` or ``x0``.
    """

    steps: int
    parametrisation: str

    def __post_init__(self) -> None:
        if self.parametrisation not in PARAMETRISATIONS:
            raise ValueError(f"parametrisation must be one of {PARAMETRISATIONS}, got {self.parametrisation!r}")

    @property
    def alphas_cumprod(self) -> np.ndarray:
        return np.cumprod(1.0 - linear_betas(self.steps))

    def loss(self, model: torch.nn.Module, x0: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """MSE of the network's target at uniformly drawn timesteps (torch's global RNG).

        Args:
            model: ``model(x_t (b, G), t int64 (b,), cond (b, D)) -> (b, G)``.
            x0: float32 (b, G) clean samples; cond: float32 (b, D) conditions.
        """
        abar = torch.as_tensor(self.alphas_cumprod, dtype=torch.float32, device=x0.device)
        t = torch.randint(0, self.steps, (x0.shape[0],), device=x0.device)
        noise = torch.randn_like(x0)
        a = abar[t][:, None]
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
        target = noise if self.parametrisation == "epsilon" else x0
        return torch.nn.functional.mse_loss(model(x_t, t, cond).float(), target)

    @torch.no_grad()
    def sample(
        self,
        model: torch.nn.Module,
        cond: torch.Tensor,
        n_genes: int,
        sampling_steps: int,
        generator: torch.Generator,
        batch_size: int,
    ) -> torch.Tensor:
        """Ancestral sampling over ``sampling_steps`` respaced steps (no clipping).

        Args:
            model: the network, in eval mode.
            cond: float32 (n, D), one row per sample to draw.
            n_genes: G, the sample length.
            generator: all noise (the start and every step) is drawn from it, for all n rows
                at once, so a row's sample depends on its position and the generator only.
            batch_size: rows per network call.
        Returns:
            float32 (n, G) samples.
        """
        device = cond.device
        timesteps = respaced(self.steps, sampling_steps)
        abar = self.alphas_cumprod[timesteps]
        abar_prev = np.concatenate([[1.0], abar[:-1]])
        betas = 1.0 - abar / abar_prev
        x = torch.randn(cond.shape[0], n_genes, generator=generator, device=device)
        for i in range(len(timesteps) - 1, -1, -1):
            t = torch.full((cond.shape[0],), int(timesteps[i]), dtype=torch.long, device=device)
            out = torch.cat(
                [model(x[s : s + batch_size], t[s : s + batch_size], cond[s : s + batch_size]).float()
                 for s in range(0, cond.shape[0], batch_size)]
            )
            if self.parametrisation == "epsilon":
                x0 = (x - np.sqrt(1 - abar[i]) * out) / np.sqrt(abar[i])
            else:
                x0 = out
            coef_x0 = np.sqrt(abar_prev[i]) * betas[i] / (1 - abar[i])
            coef_xt = np.sqrt(1 - betas[i]) * (1 - abar_prev[i]) / (1 - abar[i])
            x = coef_x0 * x0 + coef_xt * x
            if i > 0:
                variance = betas[i] * (1 - abar_prev[i]) / (1 - abar[i])
                x = x + np.sqrt(variance) * torch.randn(x.shape, generator=generator, device=device)
        return x
