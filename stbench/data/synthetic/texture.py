"""Periodic texture tiles of the synthetic H&E images (nuclei, adipocytes, glands, fibres),
shared by all slides of a cohort; each slide reads them at its own offsets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stbench.data.synthetic.scale import TILE, normalise


@dataclass
class Tiles:
    nuc_h: dict[str, np.ndarray]  # class -> (T, T) float32 nucleus stain profile in [0, 1]
    nuc_u: dict[str, np.ndarray]  # class -> (T, T) float32 rank of the nucleus there (2 = none)
    fat_membrane: np.ndarray  # (T, T) float32 in [0, 1]
    fat_u: np.ndarray  # (T, T) float32 rank of the adipocyte
    fat_seed: np.ndarray  # (2, T, T) int16 offset (dy, dx) from each pixel to its cell centre
    lumen: np.ndarray  # (T, T) float32 in [0, 1], gland lumen
    gland_u: np.ndarray  # (T, T) float32 rank of the gland
    gland_seed: np.ndarray  # (2, T, T) int16 offset (dy, dx) from each pixel to its gland centre
    fibres: list[np.ndarray]  # 4 x (T, T) float32 in [0, 1], at 0/45/90/135 degrees
    tex: np.ndarray  # (T, T) float32, zero-mean unit-variance texture
    grain: np.ndarray  # (T, T, 3) float32, per-pixel sensor noise (grey levels)


NUCLEUS_CLASSES = {
    # spacing of the jittered lattice (px), semi-major axis range (px), aspect range, profile
    "large": (30.0, (8.5, 12.5), (0.65, 1.0), "vesicular"),
    "medium": (22.0, (5.5, 7.5), (0.7, 1.0), "solid"),
    "small": (14.0, (4.2, 5.6), (0.85, 1.0), "dense"),
    "spindle": (38.0, (10.0, 16.0), (0.2, 0.3), "solid"),
}


def jittered_hex(rng: np.random.Generator, t: int, spacing: float, jitter: float) -> np.ndarray:
    """Points (n, 2) as (y, x) on a periodic jittered hexagonal lattice in a t x t tile."""
    nx = max(1, round(t / spacing))
    ny = max(2, 2 * round(t / (spacing * 0.866) / 2))
    sx, sy = t / nx, t / ny
    j, i = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    y = j * sy + rng.uniform(-jitter, jitter, j.shape) * sy
    x = i * sx + (j % 2) * sx / 2 + rng.uniform(-jitter, jitter, j.shape) * sx
    return np.stack([y.ravel() % t, x.ravel() % t], axis=1)


def nucleus_tile(rng: np.random.Generator, t: int, cls: str) -> tuple[np.ndarray, np.ndarray]:
    spacing, a_rng, asp_rng, profile = NUCLEUS_CLASSES[cls]
    pts = jittered_hex(rng, t, spacing, 0.3)
    n = len(pts)
    a = rng.uniform(*a_rng, n)
    b = a * rng.uniform(*asp_rng, n)
    th = rng.uniform(0.0, np.pi, n)
    u = rng.uniform(0.0, 1.0, n).astype(np.float32)
    dark = rng.uniform(0.8, 1.0, n)
    r = int(np.ceil(a_rng[1])) + 1
    d = np.arange(-r, r + 1)
    cy, cx = np.round(pts[:, 0]).astype(np.int64), np.round(pts[:, 1]).astype(np.int64)
    dy = d[None, :, None] + (cy - pts[:, 0])[:, None, None]
    dx = d[None, None, :] + (cx - pts[:, 1])[:, None, None]
    cos, sin = np.cos(th)[:, None, None], np.sin(th)[:, None, None]
    p = dy * cos + dx * sin
    q = -dy * sin + dx * cos
    r2 = (p / a[:, None, None]) ** 2 + (q / b[:, None, None]) ** 2
    if profile == "vesicular":  # darker rim, paler centre
        v = np.clip(3.0 * (1.0 - r2), 0.0, 1.0) * (0.6 + 0.4 * np.minimum(r2, 1.0))
    elif profile == "dense":
        v = np.clip(4.0 * (1.0 - r2), 0.0, 1.0)
    else:
        v = np.clip(3.0 * (1.0 - r2), 0.0, 1.0) * 0.85
    v = v * dark[:, None, None]
    idx = ((cy[:, None, None] + d[None, :, None]) % t) * t + (cx[:, None, None] + d[None, None, :]) % t
    keep = v > 0
    idx, v = idx[keep], v[keep]
    uu = np.broadcast_to(u[:, None, None], keep.shape)[keep]
    order = np.lexsort((uu, idx))  # by pixel, then rank: the lowest-rank nucleus wins a pixel
    idx, v, uu = idx[order], v[order], uu[order]
    first = np.ones(len(idx), bool)
    first[1:] = idx[1:] != idx[:-1]
    h = np.zeros(t * t, np.float32)
    urank = np.full(t * t, 2.0, np.float32)
    h[idx[first]] = v[first]
    urank[idx[first]] = uu[first]
    return h.reshape(t, t), urank.reshape(t, t)


def voronoi_tile(
    rng: np.random.Generator, t: int, spacing: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Periodic Voronoi cells in a t x t tile.

    Returns distance to the nearest seed d1 (t, t), to the second nearest d2 (t, t), the
    cell id (t, t) and the offset from each pixel to its cell's seed, int16 (2, t, t) (dy, dx).
    """
    m = max(3, round(t / spacing))
    s = t / m
    oy = (0.5 + rng.uniform(-0.4, 0.4, (m, m))) * s
    ox = (0.5 + rng.uniform(-0.4, 0.4, (m, m))) * s
    yy = np.arange(t, dtype=np.float32)[:, None] + 0.5
    xx = np.arange(t, dtype=np.float32)[None, :] + 0.5
    ci = np.floor(yy / s).astype(np.int64)
    cj = np.floor(xx / s).astype(np.int64)
    d1 = np.full((t, t), np.inf, np.float32)
    d2 = np.full((t, t), np.inf, np.float32)
    owner = np.zeros((t, t), np.int64)
    to_seed = np.zeros((2, t, t), np.float32)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            ii, jj = (ci + di) % m, (cj + dj) % m
            dy = (ci + di) * s + oy[ii, jj] - yy
            dx = (cj + dj) * s + ox[ii, jj] - xx
            d = np.sqrt(dy**2 + dx**2).astype(np.float32)
            nearer = d < d1
            d2 = np.where(nearer, d1, np.minimum(d2, d))
            d1 = np.where(nearer, d, d1)
            owner = np.where(nearer, ii * m + jj, owner)
            to_seed = np.where(nearer, np.stack([dy, dx]), to_seed)
    return d1, d2, owner, np.round(to_seed).astype(np.int16)


def make_tiles(rng: np.random.Generator) -> Tiles:
    from scipy import ndimage

    t = TILE
    nuc_h, nuc_u = {}, {}
    for cls in NUCLEUS_CLASSES:
        nuc_h[cls], nuc_u[cls] = nucleus_tile(rng, t, cls)
    # Adipocytes: large empty cells with thin membranes.
    d1, d2, owner, fat_seed = voronoi_tile(rng, t, 80.0)
    fat_membrane = np.clip(1.0 - (d2 - d1 - 1.0) / 2.5, 0.0, 1.0).astype(np.float32)
    fat_u = rng.uniform(0, 1, owner.max() + 1).astype(np.float32)[owner]
    # Glands: round lumens of varying size.
    d1, _, owner, gland_seed = voronoi_tile(rng, t, 120.0)
    r_lumen = rng.uniform(10.0, 28.0, owner.max() + 1).astype(np.float32)[owner]
    lumen = np.clip((r_lumen - d1) / 2.0, 0.0, 1.0).astype(np.float32)
    gland_u = rng.uniform(0, 1, owner.max() + 1).astype(np.float32)[owner]
    # Collagen fibres: noise filtered along one direction (periodic, via FFT).
    spec = np.fft.rfft2(rng.standard_normal((t, t)))
    ky = np.fft.fftfreq(t)[:, None]
    kx = np.fft.rfftfreq(t)[None, :]
    fibres = []
    for ang in (0.0, 45.0, 90.0, 135.0):
        c, s = np.cos(np.deg2rad(ang)), np.sin(np.deg2rad(ang))
        k_along, k_across = kx * c + ky * s, -kx * s + ky * c
        filt = np.exp(-2 * np.pi**2 * (16.0**2 * k_along**2 + 1.3**2 * k_across**2))
        z = normalise(np.fft.irfft2(spec * filt, s=(t, t)))
        fibres.append(np.clip((z - 0.5) / 1.5, 0.0, 1.0).astype(np.float32))
    noise = rng.standard_normal((t, t))
    tex = 0.7 * normalise(ndimage.gaussian_filter(noise, 1.0, mode="wrap"))
    tex += 0.3 * normalise(ndimage.gaussian_filter(rng.standard_normal((t, t)), 5.0, mode="wrap"))
    grain = rng.normal(0.0, 1.5, (t, t, 3)).astype(np.float32)
    return Tiles(
        nuc_h, nuc_u, fat_membrane, fat_u, fat_seed, lumen, gland_u, gland_seed, fibres, normalise(tex), grain
    )
