"""Rendering of a synthetic H&E image: per-slide stain and Beer-Lambert optical densities."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stbench.data.synthetic.scale import BAND, COARSE, PATCH_SIZE, sigmoid
from stbench.data.synthetic.texture import NUCLEUS_CLASSES, Tiles


@dataclass
class Stain:
    v_h: np.ndarray  # (3,) haematoxylin OD vector (unit norm) times its strength
    v_e: np.ndarray  # (3,) eosin OD vector times its strength
    background: np.ndarray  # (3,) glass/illumination RGB


def draw_stain(rng: np.random.Generator) -> Stain:
    """Per-slide stain: perturbed Ruifrok H&E vectors and strengths (the colour batch effect)."""
    v_h = np.array([0.65, 0.70, 0.29]) + rng.normal(0.0, 0.05, 3)
    v_e = np.array([0.07, 0.99, 0.11]) + rng.normal(0.0, 0.05, 3)
    v_h = np.abs(v_h) / np.linalg.norm(v_h) * rng.uniform(0.8, 1.25)
    v_e = np.abs(v_e) / np.linalg.norm(v_e) * rng.uniform(0.75, 1.3)
    background = rng.uniform(232.0, 250.0) + rng.normal(0.0, 3.0, 3)
    return Stain(v_h.astype(np.float32), v_e.astype(np.float32), np.clip(background, 200, 255).astype(np.float32))


def tile_band(tile: np.ndarray, y0: int, y1: int, x0: int, x1: int, offset: np.ndarray) -> np.ndarray:
    """Rows y0:y1, columns x0:x1 of the periodic (T, T, ...) tile shifted by ``offset`` (oy, ox)."""
    t = tile.shape[0]
    rows = tile[(np.arange(y0, y1) + offset[0]) % t]
    ox = int(offset[1] + x0) % t
    reps = (ox + x1 - x0) // t + 1
    return np.tile(rows, (1, reps) + (1,) * (rows.ndim - 2))[:, ox : ox + x1 - x0]


def upsample_band(field: np.ndarray, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """Bilinear upsampling of a coarse (hc, wc) field to full-res pixels [y0:y1, x0:x1]."""
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(field, dtype=np.float32))
    box = (x0 / COARSE, y0 / COARSE, x1 / COARSE, y1 / COARSE)
    return np.asarray(img.resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR, box=box))


def render_image(
    height: int,
    width: int,
    centres: np.ndarray,
    thr: float,
    maps: dict[str, np.ndarray],
    tiles: Tiles,
    stain: Stain,
    fib_pair: np.ndarray,
    offsets: np.ndarray,
) -> np.ndarray:
    """The slide image, uint8 (height, width, 3) RGB, rendered band by band.

    Only pixels that some patch around ``centres`` (int (N, 2), (x, y)) can reach are
    rendered; the rest is left at the background colour. Stain concentrations (optical
    densities) for haematoxylin ``H`` and eosin ``E`` are built per pixel from the upsampled
    domain maps and the periodic texture tiles, then turned into RGB by Beer-Lambert:
    ``rgb = background * exp(-(H * v_h + E * v_e))``.
    """
    image = np.empty((height, width, 3), np.uint8)
    image[:] = np.clip(stain.background + 0.5, 0, 255).astype(np.uint8)
    half = PATCH_SIZE // 2
    classes = list(NUCLEUS_CLASSES)
    for y0 in range(0, height, BAND):
        y1 = min(height, y0 + BAND)
        near = (centres[:, 1] + half > y0) & (centres[:, 1] - half < y1)
        if not near.any():
            continue
        x0 = max(0, int(centres[near, 0].min()) - half)
        x1 = min(width, int(centres[near, 0].max()) + half)
        m = {name: upsample_band(f, y0, y1, x0, x1) for name, f in maps.items()}
        tb = lambda tile, o: tile_band(tile, y0, y1, x0, x1, offsets[o])  # noqa: E731
        ys, xs = np.arange(y0, y1)[:, None], np.arange(x0, x1)[None, :]

        def at_seed(coarse: np.ndarray, seed: np.ndarray, o: int) -> np.ndarray | float:
            """``coarse`` looked up at the centre of the cell each pixel belongs to."""
            r0, r1 = max(0, y0 // COARSE - 8), y1 // COARSE + 8  # seeds lie < 128 px away
            if not coarse[r0:r1].any():
                return 0.0
            iy = (tb(seed[0], o) + ys) // COARSE
            ix = (tb(seed[1], o) + xs) // COARSE
            return coarse[np.clip(iy, 0, coarse.shape[0] - 1), np.clip(ix, 0, coarse.shape[1] - 1)]

        alpha = sigmoid((m["score"] - thr) / 0.003)
        nuc = np.zeros((y1 - y0, x1 - x0), np.float32)
        for c, cls in enumerate(classes):
            h = tb(tiles.nuc_h[cls], c)
            visible = tb(tiles.nuc_u[cls], c) < m[cls]
            if cls == "large":
                h = h * m["large_gain"]
            np.maximum(nuc, np.where(visible, h, 0.0), out=nuc)
        # Adipocytes and glands switch on as whole cells: by the level at the cell's centre.
        fat_on = tb(tiles.fat_u, 4) < at_seed(maps["fat"], tiles.fat_seed, 4)
        membrane = tb(tiles.fat_membrane, 4) * fat_on
        fat_inside = fat_on * (1.0 - membrane)
        lumen = tb(tiles.lumen, 5) * (tb(tiles.gland_u, 5) < at_seed(maps["gland"], tiles.gland_seed, 5))
        white = np.maximum(fat_inside, lumen)
        fib = (1.0 - m["orient"]) * tb(tiles.fibres[fib_pair[0]], 6) + m["orient"] * tb(tiles.fibres[fib_pair[1]], 6)
        tex = tb(tiles.tex, 7)
        keep = (1.0 - white) * alpha
        eos = (m["eosin"] * (1.0 + 0.25 * tex) + 0.9 * m["fibre"] * fib) * (1.0 - 0.5 * nuc)
        eos = eos * keep + 0.45 * membrane * alpha
        hem = (m["cyto_h"] * (1.0 + 0.4 * tex) + 1.3 * nuc * (0.9 + 0.1 * tex)) * keep
        od = hem[..., None] * stain.v_h + eos[..., None] * stain.v_e
        rgb = stain.background * np.exp(-od)
        rgb += tb(tiles.grain, 8)
        image[y0:y1, x0:x1] = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    return image
