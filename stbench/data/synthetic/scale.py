"""Scale of the synthetic slides and the smooth random fields they are built from.

1 full-resolution pixel = 1 patch pixel = 0.5 um; spots on a hexagonal grid 150 px (75 um) apart;
smooth fields live on a coarse grid of ``COARSE`` full-resolution pixels per cell.
"""

from __future__ import annotations

import numpy as np

PATCH_SIZE = 224
UM_PER_PX = 0.5
SPOT_SPACING_PX = 150.0
"""Centre-to-centre distance of neighbouring spots in full-resolution pixels (75 um)."""
SPOT_DIAMETER_UM = 55.0

COARSE = 16  # full-res pixels per cell of the coarse grid the smooth fields live on
TILE = 1024  # side of the periodic texture tiles (full-res px)
BAND = 256  # rows rendered at a time (bounds memory)


def normalise(z: np.ndarray) -> np.ndarray:
    return ((z - z.mean()) / (z.std() + 1e-12)).astype(np.float32)


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float) -> np.ndarray:
    """Zero-mean unit-variance Gaussian random field on the coarse grid, float32 ``shape``."""
    from scipy import ndimage

    z = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_px / COARSE, mode="reflect")
    return normalise(z)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0)))
