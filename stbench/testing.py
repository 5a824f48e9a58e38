"""Tiny in-memory cohorts for plugin authors' tests and the conformance checker."""

from __future__ import annotations

import numpy as np

from stbench.data.spots import PATCH_SIZE, SpotData, in_memory_slide


def tiny_spotdata(
    n_slides: int = 4, n_spots: int = 12, n_genes: int = 16, *, seed: int = 0
) -> SpotData:
    """A small learnable cohort in memory.

    Each spot has a latent 'redness' r in [0, 1]; its patch is a flat colour plus noise whose
    red channel rises with r, and its expression (float32, log1p space) is a gene-wise linear
    function of r plus noise. Shapes: ``n_slides`` slides of ``n_spots`` spots each, patches
    uint8 (n_spots, 224, 224, 3), expression (n_spots, n_genes), coords on a grid 100 px apart.
    """
    rng = np.random.default_rng(seed)
    genes = tuple(f"G{i:03d}" for i in range(n_genes))
    slope = rng.normal(0, 1, n_genes)
    base = rng.uniform(0.5, 2.0, n_genes)
    side = int(np.ceil(np.sqrt(n_spots)))
    grid = np.stack(np.meshgrid(np.arange(side), np.arange(side)), -1).reshape(-1, 2)[:n_spots]
    slides = []
    for s in range(n_slides):
        r = rng.uniform(0, 1, n_spots)
        colour = np.stack([80 + 150 * r, 90 - 40 * r, 140 - 20 * r], axis=1)
        noise = rng.normal(0, 8, (n_spots, PATCH_SIZE, PATCH_SIZE, 3))
        patches = np.clip(colour[:, None, None, :] + noise, 0, 255).astype(np.uint8)
        expr = np.clip(base + np.outer(r, slope) + rng.normal(0, 0.1, (n_spots, n_genes)), 0, None)
        slides.append(
            in_memory_slide(
                f"tiny{s}",
                patches,
                expr.astype(np.float32),
                (grid * 100.0 + 50.0).astype(np.float32),
                patient=f"p{s // 2}",
            )
        )
    return SpotData(genes, tuple(slides))


def tiny_split(seed: int = 0) -> tuple[SpotData, SpotData, SpotData]:
    """(train, val, test) of a 6-slide tiny cohort: 4 / 1 / 1 slides."""
    data = tiny_spotdata(n_slides=6, seed=seed)
    ids = [s.id for s in data.slides]
    return data.subset(ids[:4]), data.subset(ids[4:5]), data.subset(ids[5:])
