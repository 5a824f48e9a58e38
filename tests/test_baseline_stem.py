"""Stem: the DDPM schedule and sampler, the mean start, the recorded samples, conformance."""

from __future__ import annotations

import numpy as np
import torch

from baselines.stem import StemPredictor
from baselines.stem.diffusion import Diffusion, linear_betas, respaced
from baselines.stem.model import StemNet
from stbench.check import check_predictor
from stbench.testing import tiny_split


def test_linear_schedule_and_respacing() -> None:
    betas = linear_betas(1000)
    assert betas[0] == 1e-4 and abs(betas[-1] - 0.02) < 1e-12
    assert respaced(1000, 1000).tolist() == list(range(1000))
    steps = respaced(1000, 5)
    assert steps[0] == 0 and steps[-1] == 999 and (np.diff(steps) > 0).all()


class _Constant(torch.nn.Module):
    def __init__(self, value: torch.Tensor) -> None:
        super().__init__()
        self.value = value

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.value.expand_as(x)


def test_x0_sampler_ends_exactly_on_the_networks_clean_estimate() -> None:
    value = torch.tensor([0.5, -1.0, 2.0])
    diffusion = Diffusion(1000, "x0")
    gen = torch.Generator().manual_seed(0)
    out = diffusion.sample(_Constant(value), torch.zeros(7, 4), 3, 10, gen, batch_size=3)
    torch.testing.assert_close(out, value.expand(7, 3))


def test_epsilon_sampler_with_zero_noise_estimate_only_rescales() -> None:
    diffusion = Diffusion(1000, "epsilon")
    a = torch.Generator().manual_seed(1)
    out = diffusion.sample(_Constant(torch.zeros(3)), torch.zeros(5, 2), 3, 1, a, batch_size=5)
    start = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(out, start / np.sqrt(diffusion.alphas_cumprod[0]))


def test_gene_tokens_cover_every_gene_and_the_untrained_net_outputs_zero() -> None:
    net = StemNet(n_genes=10, feature_dim=6, hidden=8, depth=1, heads=2, mlp_ratio=2.0, gene_patch=4)
    assert net.n_tokens == 3
    out = net(torch.randn(5, 10), torch.randint(0, 1000, (5,)), torch.randn(5, 6))
    assert out.shape == (5, 10) and torch.count_nonzero(out) == 0


def test_untrained_stem_predicts_the_training_mean_and_records_its_samples() -> None:
    train, val, test = tiny_split(0)
    model = StemPredictor("small", epochs=0).fit(train, val)
    pred = model.predict(test.hide_expression())
    mean = train.expression().mean(axis=0)
    np.testing.assert_allclose(pred, np.broadcast_to(mean, pred.shape), atol=1e-5)
    assert model.fit_report["samples_averaged"] == StemPredictor.profiles["small"]["samples"]
    assert model.fit_report["sampling_steps"] == StemPredictor.profiles["small"]["sampling_steps"]


def test_stem_conforms() -> None:
    check_predictor(StemPredictor)
