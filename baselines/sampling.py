"""Seeded randomness of the generative baselines' samplers (``stflow``, ``stem``).

A generative model draws noise when it predicts. So that predictions are deterministic and do not
depend on which other slides are predicted in the same call (:mod:`stbench.check`), every slide
gets its own random streams, seeded from the predictor's seed and the slide's id only.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def slide_seed(seed: int, slide_id: str) -> int:
    """A 63-bit seed from ``(seed, slide_id)`` (SHA-256), the same on every platform."""
    digest = hashlib.sha256(f"{seed}:{slide_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def slide_generator(seed: int, slide_id: str, device: str) -> torch.Generator:
    """A torch generator on ``device`` seeded with :func:`slide_seed`."""
    import torch

    return torch.Generator(device=device).manual_seed(slide_seed(seed, slide_id))

