"""One synthetic slide: spot grid, tissue domains, continuous programs, counts and patches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stbench.data.synthetic.genes import DOMAINS, N_EXTRA_POOL, PROGRAM_GAIN, Panel
from stbench.data.synthetic.render import draw_stain, render_image
from stbench.data.synthetic.scale import COARSE, PATCH_SIZE, SPOT_SPACING_PX, TILE, sigmoid, smooth_field
from stbench.data.synthetic.texture import Tiles

# Per-domain image and library-size parameters, in DOMAINS order.
EOSIN = np.array([0.28, 0.60, 0.20, 0.30, 0.50], np.float32)  # cytoplasm/matrix eosin OD
CYTO_H = np.array([0.20, 0.04, 0.10, 0.03, 0.06], np.float32)  # cytoplasm haematoxylin OD
CELLULARITY = np.array([1.3, 0.7, 1.5, 0.35, 1.0])  # relative RNA content of a spot


@dataclass
class SyntheticSlide:
    barcodes: np.ndarray  # (N,) str
    array_row: np.ndarray  # (N,) int64
    array_col: np.ndarray  # (N,) int64
    centre: np.ndarray  # (N, 2) int64, (x, y) full-res px
    counts: np.ndarray  # (N, G_slide) float32 integer-valued
    gene_idx: np.ndarray  # (G_slide,) indices into the panel
    gene_names: list[str]
    patches: np.ndarray  # (M, 224, 224, 3) uint8, M <= N, in patch-file order
    patch_rows: np.ndarray  # (M,) rows of the spots the patches belong to
    width: int
    height: int
    truth: dict[str, np.ndarray]  # per-spot latent state: domain weights (N, K), programmes (N,),
    # library size (N,), and "rate" float64 (N, G_slide): the Poisson rate the counts are drawn from

    @property
    def n_spots(self) -> int:
        return len(self.barcodes)


def barcodes_from_index(index: np.ndarray) -> np.ndarray:
    """16-nt Visium-like barcodes from grid indices: a fixed bijection, same on every slide."""
    v = (index.astype(np.uint64) * np.uint64(2654435761) + np.uint64(97531)) % np.uint64(4**16)
    digits = (v[:, None] >> (np.arange(15, -1, -1, dtype=np.uint64) * np.uint64(2))[None, :]) & np.uint64(3)
    letters = np.array(list("ACGT"))[digits.astype(np.int64)]
    return np.array(["".join(row) + "-1" for row in letters])


def make_slide(
    seed: int, index: int, patient: int, panel: Panel, tiles: Tiles, n_spots: tuple[int, int] = (250, 400)
) -> SyntheticSlide:
    """One slide: grid, domains, expression on ``panel`` and image; ``n_spots`` = (min, max) spots."""
    from scipy import ndimage

    rng_geo = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2, index, 0)))
    rng_expr = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2, index, 1)))
    rng_img = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2, index, 2)))
    rng_pat = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(3, patient)))

    # Grid: Visium-like hex, array_col steps by 2 within a row and is offset by 1 on odd rows.
    n_rows = int(rng_geo.integers(18, 22))
    per_row = int(rng_geo.integers(20, 24))
    r, j = np.meshgrid(np.arange(n_rows), np.arange(per_row), indexing="ij")
    r, j = r.ravel(), j.ravel()
    acol = 2 * j + (r % 2)
    pad = PATCH_SIZE // 2 + 48
    cx = pad + np.round(acol * SPOT_SPACING_PX / 2).astype(np.int64)
    cy = pad + np.round(r * SPOT_SPACING_PX * np.sqrt(3) / 2).astype(np.int64)
    width = int(np.ceil((cx.max() + pad) / COARSE) * COARSE)
    height = int(np.ceil((cy.max() + pad) / COARSE) * COARSE)
    hc, wc = height // COARSE, width // COARSE

    def at_spots(field: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """Bilinear sample of a coarse field at full-res pixel centres (PIL's convention)."""
        coords = np.stack([(ys + 0.5) / COARSE - 0.5, (xs + 0.5) / COARSE - 0.5])
        return ndimage.map_coordinates(field, coords, order=1, mode="nearest")

    # Tissue shape: a noisy blob; keep the n_target grid spots with the highest score.
    yy = (np.arange(hc)[:, None] + 0.5) * COARSE
    xx = (np.arange(wc)[None, :] + 0.5) * COARSE
    ey, ex = height / 2 * rng_geo.uniform(0.85, 1.15), width / 2 * rng_geo.uniform(0.85, 1.15)
    blob = 1.0 - np.sqrt(((yy - height / 2) / ey) ** 2 + ((xx - width / 2) / ex) ** 2)
    score = (blob + 0.25 * smooth_field(rng_geo, (hc, wc), 350.0)).astype(np.float32)
    spot_score = at_spots(score, cy, cx)
    n_target = min(int(rng_geo.integers(n_spots[0], n_spots[1] + 1)), len(r) - 5)
    order = np.argsort(-spot_score, kind="stable")
    thr = 0.5 * (spot_score[order[n_target - 1]] + spot_score[order[n_target]])
    keep = np.sort(order[:n_target])
    r, acol, cx, cy, spot_score = r[keep], acol[keep], cx[keep], cy[keep], spot_score[keep]
    grid_index = r * 256 + acol

    # Domains: softmax of smooth random fields plus patient/slide log-proportions.
    k = len(DOMAINS)
    prop_patient = rng_pat.dirichlet(np.full(k, 1.5))
    prop = rng_geo.dirichlet(20.0 * prop_patient + 0.5)
    logits = np.stack([smooth_field(rng_geo, (hc, wc), 260.0) for _ in range(k)])
    logits = (logits + np.log(prop + 1e-3)[:, None, None]) / 0.3
    w = np.exp(logits - logits.max(axis=0, keepdims=True))
    w = (w / w.sum(axis=0, keepdims=True)).astype(np.float32)  # (K, hc, wc)
    prolif = sigmoid(1.8 * smooth_field(rng_geo, (hc, wc), 200.0)).astype(np.float32)
    ecm = sigmoid(1.8 * smooth_field(rng_geo, (hc, wc), 200.0)).astype(np.float32)
    ifn = smooth_field(rng_geo, (hc, wc), 300.0)
    orient = sigmoid(2.0 * smooth_field(rng_geo, (hc, wc), 300.0)).astype(np.float32)
    tum, stro, imm, fat, norm = w
    prolif_eff = prolif * (tum + 0.4 * imm + 0.2 * norm)
    ecm_eff = ecm * (stro + 0.3 * tum)

    # ---- expression -------------------------------------------------------------------
    w_s = np.stack([at_spots(f, cy, cx) for f in w], axis=1)  # (N, K)
    w_s /= w_s.sum(axis=1, keepdims=True)
    p_s, e_s, i_s = (at_spots(f, cy, cx) for f in (prolif_eff, ecm_eff, ifn))
    dom_prof = panel.log_base[None, :] + panel.domain_lfc  # (K, G_all)
    dom_prof = np.exp(dom_prof - dom_prof.max(axis=1, keepdims=True))
    dom_prof /= dom_prof.sum(axis=1, keepdims=True)
    mean = w_s @ dom_prof  # (N, G_all)
    gain = np.zeros_like(mean)
    for name, drive in (("proliferation", p_s), ("ecm", e_s), ("interferon", i_s)):
        gain[:, panel.programs[name]] += PROGRAM_GAIN[name] * drive[:, None]
    g_all = len(panel.names)
    batch = rng_pat.normal(0.0, 0.2, g_all) + rng_expr.normal(0.0, 0.12, g_all)
    mean = mean * np.exp(gain + batch[None, :])
    mean /= mean.sum(axis=1, keepdims=True)
    depth = np.exp(rng_expr.normal(np.log(4000.0), 0.3))
    alpha_s = sigmoid((spot_score - thr) / 0.01)
    lib = depth * (w_s @ CELLULARITY) * np.exp(rng_expr.normal(0.0, 0.3, len(r))) * np.clip(alpha_s, 0.3, 1.0)
    mu = mean * lib[:, None]
    phi = panel.dispersion[None, :]
    rate = rng_expr.gamma(1.0 / phi, mu * phi)  # the spot's true expression: its Poisson rate per gene
    counts = rng_expr.poisson(rate).astype(np.float32)
    n_drop = int(rng_expr.integers(0, 21))
    dropped = rng_expr.choice(panel.droppable, size=min(n_drop, len(panel.droppable)), replace=False)
    n_extra = int(rng_expr.integers(2, 9))
    extras = panel.n_master + rng_expr.choice(N_EXTRA_POOL, size=n_extra, replace=False)
    gene_idx = np.concatenate([np.setdiff1d(np.arange(panel.n_master), dropped), np.sort(extras)])
    counts = counts[:, gene_idx]

    # ---- image ------------------------------------------------------------------------
    maps = {
        "score": score,
        "eosin": np.tensordot(EOSIN, w, 1),
        "cyto_h": np.tensordot(CYTO_H, w, 1),
        "large": tum * (0.3 + 0.7 * prolif),
        "large_gain": 1.0 + 0.4 * prolif * tum,
        "medium": 0.9 * norm + 0.1 * tum,
        "small": 0.95 * imm + 0.06 * (tum + stro + norm),
        "spindle": 0.6 * stro + 0.15 * tum * ecm + 0.05 * fat,
        "fat": np.clip((fat - 0.25) / 0.5, 0.0, 1.0),
        "gland": 0.8 * np.clip((norm - 0.3) / 0.5, 0.0, 1.0),
        "fibre": stro * (0.15 + 0.75 * ecm) + 0.2 * tum * ecm,
        "orient": orient,
    }
    stain = draw_stain(rng_img)
    fib_pair = rng_img.choice(4, size=2, replace=False)
    offsets = rng_img.integers(0, TILE, (9, 2))
    image = render_image(height, width, np.stack([cx, cy], axis=1), thr, maps, tiles, stain, fib_pair, offsets)

    # ---- patches: shuffled order, a few edge spots missing ---------------------------------
    n = len(r)
    n_missing = max(1, int(round(rng_expr.uniform(0.01, 0.03) * n)))
    present = np.sort(np.argsort(spot_score, kind="stable")[n_missing:])
    patch_rows = rng_expr.permutation(present)
    half = PATCH_SIZE // 2
    patches = np.empty((len(patch_rows), PATCH_SIZE, PATCH_SIZE, 3), np.uint8)
    for p, row in enumerate(patch_rows):
        y0, x0 = cy[row] - half, cx[row] - half
        patches[p] = image[y0 : y0 + PATCH_SIZE, x0 : x0 + PATCH_SIZE]

    return SyntheticSlide(
        barcodes=barcodes_from_index(grid_index),
        array_row=r.astype(np.int64),
        array_col=acol.astype(np.int64),
        centre=np.stack([cx, cy], axis=1).astype(np.int64),
        counts=counts,
        gene_idx=gene_idx,
        gene_names=[panel.names[g] for g in gene_idx],
        patches=patches,
        patch_rows=patch_rows,
        width=width,
        height=height,
        truth={"domains": w_s, "proliferation": p_s, "ecm": e_s, "interferon": i_s, "library_size": lib,
               "rate": rate[:, gene_idx]},
    )
