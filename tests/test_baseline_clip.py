"""CLIP baseline: reuses GenST's modules, InfoNCE by hand, conformance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines.clip import SMALL, CLIPConfig, CLIPModel, CLIPPredictor, info_nce
from genst.config import AutoencodersConfig
from genst.modules import GeneAutoencoder, ImageAutoencoder
from stbench.check import check_predictor


def test_clip_reuses_genst_modules_and_settings() -> None:
    model = CLIPModel(12, SMALL)
    assert isinstance(model.gene, GeneAutoencoder) and isinstance(model.image, ImageAutoencoder)
    assert issubclass(CLIPConfig, AutoencodersConfig)
    from genst import SMALL as GENST_SMALL

    for name in AutoencodersConfig.__dataclass_fields__:
        assert getattr(SMALL, name) == getattr(GENST_SMALL, name)


def test_info_nce_matches_a_hand_computation() -> None:
    img = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    gene = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    t = 0.5
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    logits = unit(img) @ unit(gene).T / t

    def ce_identity(z: np.ndarray) -> float:  # mean over rows of -log softmax(z)[i, i]
        return float(np.mean(np.log(np.exp(z).sum(1)) - np.diag(z)))

    expected = (ce_identity(logits) + ce_identity(logits.T)) / 2
    got = info_nce(torch.tensor(img), torch.tensor(gene), t).item()
    assert got == pytest.approx(expected, rel=1e-6)


def test_clip_conforms() -> None:
    check_predictor(CLIPPredictor)
