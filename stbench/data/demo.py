"""The built-in ``demo`` cohort: a small synthetic H&E + spatial-transcriptomics benchmark.

:func:`generate_demo` writes a cohort in the HEST-1k on-disk layout from a seed, and
:func:`ensure_demo` keeps one generated copy per (generator version, seed) under a data root.

The cohort is a real (small) benchmark, not noise. Each slide is a hexagonal Visium-like
grid of spots over a tissue-shaped mask; five tissue domains (tumour, stroma, immune, fat,
normal epithelium) are laid out as smooth spatial regions with soft borders and proportions
that vary by patient and slide. The *same* per-pixel domain weights drive both

* the image: each domain has its own morphology (large vesicular tumour nuclei, pink
  stroma with collagen fibres and spindle nuclei, dense small lymphocyte nuclei, large empty
  adipocytes, glands with lumens), rendered in optical-density space with a per-slide
  stain (colour) batch effect; and
* the expression: per-domain programs (20-40 marker genes at 4-10x) mixed by the domain
  weights at the spot centre, plus continuous programs, negative-binomial counts, per-slide
  and per-patient gene batch factors and per-spot library sizes.

Two continuous programs are visible in the image beyond the domain label (proliferation
raises tumour nuclei density and darkness; ECM raises fibre density), so image models that
see more than the domain can score better than a domain classifier; one program
(interferon response) is spatially smooth but invisible, which caps what any model can get.

Layout written (one row per slide in ``metadata.csv``)::

    out_dir/
      metadata.csv          id, st_technology, organ, species, patient, dataset_title, ...
      st/{id}.h5ad          X: raw counts, CSR float32 (spots x genes, integer-valued)
      patches/{id}.h5       img uint8 (N, 224, 224, 3), barcode |S (N, 1), coords int64 (N, 2)
      demo_info.json        generator parameters and the genes of each program (ground truth)
      COMPLETE              written last by :func:`ensure_demo` only

Scale: 1 full-resolution pixel = 1 patch pixel = 0.5 um. Spots sit on a hexagonal grid with
150 px (75 um) centre-to-centre spacing and a nominal 55 um (110 px) spot diameter; a patch
is 224 x 224 px (112 um) centred on its spot, so neighbouring patches overlap.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from typing import Any
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEMO_VERSION: str = "1"
"""Version of the generator's output; bumped whenever the generated arrays change."""

DOMAINS: tuple[str, ...] = ("tumour", "stroma", "immune", "fat", "normal_epithelium")
"""The tissue domains, in the order used by ``demo_info.json``."""

PATCH_SIZE = 224
UM_PER_PX = 0.5
SPOT_SPACING_PX = 150.0
"""Centre-to-centre distance of neighbouring spots in full-resolution pixels (75 um)."""
SPOT_DIAMETER_UM = 55.0

_COARSE = 16  # full-res pixels per cell of the coarse grid the smooth fields live on
_TILE = 1024  # side of the periodic texture tiles (full-res px)
_BAND = 256  # rows rendered at a time (bounds memory)
_N_EXTRA_POOL = 40  # slide-specific extra genes are drawn from this pool
_MIN_GENES = 300
_MARKERS_PER_DOMAIN = 30

# Realistic gene names per program; the rest of each program is filled with GENE#### names.
_NAMED_MARKERS: dict[str, tuple[str, ...]] = {
    "tumour": ("EPCAM", "KRT8", "KRT18", "KRT19", "CEACAM5", "MUC1", "ERBB2", "CDH1", "SOX9", "CLDN4"),
    "stroma": ("DCN", "LUM", "PDGFRB", "FAP", "ACTA2", "VIM", "TAGLN", "MGP", "CXCL12", "PDGFRA"),
    "immune": ("PTPRC", "CD3E", "CD3D", "CD2", "CD19", "MS4A1", "CD79A", "IGKC", "CCL19", "CXCL13", "LTB", "CD74"),
    "fat": ("ADIPOQ", "PLIN1", "FABP4", "LEP", "LPL", "CIDEA", "CIDEC", "CFD", "PPARG", "RBP4"),
    "normal_epithelium": ("KRT5", "KRT14", "KRT15", "TP63", "SCGB2A2", "PIP", "MUCL1", "AZGP1", "KRT23", "OXTR"),
}
_NAMED_PROLIF = (
    "MKI67", "TOP2A", "PCNA", "CCNB1", "CDK1", "BIRC5", "MCM2", "TYMS", "UBE2C", "CENPF", "RRM2", "CDC20", "AURKA",
    "PTTG1",
)  # fmt: skip
_NAMED_ECM = ("COL1A1", "COL1A2", "COL3A1", "COL5A1", "FN1", "SPARC", "POSTN", "MMP2")
_NAMED_IFN = ("ISG15", "IFI6", "IFIT1", "IFIT3", "MX1", "OAS1", "STAT1", "IRF7", "IFI44L", "RSAD2")
_NAMED_HOUSEKEEPING = (
    "ACTB", "GAPDH", "MALAT1", "B2M", "EEF1A1", "TMSB4X", "FTL", "FTH1", "RPLP0", "RPS27A", "MT-CO1", "MT-ND1",
    "MT-CO2", "MT-ATP6",
)  # fmt: skip
_PROGRAM_SIZE = {"proliferation": 20, "ecm": 16, "interferon": 20}
_PROGRAM_GAIN = {"proliferation": 2.0, "ecm": 2.5, "interferon": 1.0}

# Per-domain image and library-size parameters, in DOMAINS order.
_EOSIN = np.array([0.28, 0.60, 0.20, 0.30, 0.50], np.float32)  # cytoplasm/matrix eosin OD
_CYTO_H = np.array([0.20, 0.04, 0.10, 0.03, 0.06], np.float32)  # cytoplasm haematoxylin OD
_CELLULARITY = np.array([1.3, 0.7, 1.5, 0.35, 1.0])  # relative RNA content of a spot


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def generate_demo(out_dir: Path | str, *, seed: int = 0, n_slides: int = 12, genes: int = 1000) -> Path:
    """Write the synthetic demo cohort in the HEST-1k layout and return ``out_dir``.

    Args:
        out_dir: directory to write into (created if missing; existing files of the same
            names are overwritten).
        seed: the cohort's seed. The same seed (and ``genes``) gives identical arrays (and
            byte-identical patch files) with the same numpy/scipy/Pillow versions; slide ``i``
            does not depend on ``n_slides``, so a smaller cohort is a prefix of a larger one.
        n_slides: number of slides, ``DEMO00``, ``DEMO01``, ...; two consecutive slides share
            a patient (``DEMO-P0`` holds ``DEMO00`` and ``DEMO01``).
        genes: size of the shared gene list (at least 300). Each slide lacks 0-20 of its
            background genes and adds 2-8 slide-specific extras from a pool of 40
            (``LOC9000xx``), so the union is a little larger and the common set smaller.

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`.

    Each slide has 250-400 spots. Generation is single-threaded: about 1.3 s of CPU per
    slide plus 1.5 s of set-up, so the default 12 slides take about 18 s; they use about
    560 MB of disk, almost all of it patches (stored uncompressed, as in HEST-1k).
    """
    if n_slides < 1:
        raise ValueError(f"n_slides must be at least 1, got {n_slides}.")
    if genes < _MIN_GENES:
        raise ValueError(f"genes must be at least {_MIN_GENES}, got {genes}.")
    out = Path(out_dir)
    (out / "st").mkdir(parents=True, exist_ok=True)
    (out / "patches").mkdir(parents=True, exist_ok=True)

    panel = _make_gene_panel(np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,))), genes)
    tiles = _make_tiles(np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,))))
    rows = []
    for i in range(n_slides):
        sid = f"DEMO{i:02d}"
        patient = i // 2
        slide = _make_slide(seed, i, patient, panel, tiles)
        _write_h5ad(out / "st" / f"{sid}.h5ad", slide)
        _write_patches(out / "patches" / f"{sid}.h5", sid, slide)
        rows.append(metadata_row(sid, "stbench synthetic demo cohort", f"DEMO-P{patient}", slide, len(slide.gene_idx)))
    import pandas as pd

    pd.DataFrame(rows).to_csv(out / "metadata.csv", index=False)
    info = {
        "demo_version": DEMO_VERSION,
        "seed": seed,
        "n_slides": n_slides,
        "genes": genes,
        "um_per_px": UM_PER_PX,
        "spot_spacing_px": SPOT_SPACING_PX,
        "patch_size_px": PATCH_SIZE,
        "domains": list(DOMAINS),
        "markers": {d: [panel.names[g] for g in panel.markers[k]] for k, d in enumerate(DOMAINS)},
        "programs": {p: [panel.names[g] for g in idx] for p, idx in panel.programs.items()},
        "programs_visible_in_image": ["proliferation", "ecm"],
    }
    (out / "demo_info.json").write_text(json.dumps(info, indent=1) + "\n")
    return out


def demo_dir(root: Path | str, *, seed: int = 0) -> Path:
    """Where :func:`ensure_demo` keeps the cohort for ``seed``: ``root/demo/v{VERSION}-s{seed}``."""
    return Path(root) / "demo" / f"v{DEMO_VERSION}-s{seed}"


def ensure_demo(root: Path | str, *, seed: int = 0) -> Path:
    """The default demo cohort (12 slides, 1,000 genes) under ``root``, generated if needed.

    Returns ``root/demo/v{DEMO_VERSION}-s{seed}``; see :func:`ensure_generated`.
    """
    return ensure_generated(
        demo_dir(root, seed=seed),
        lambda out: generate_demo(out, seed=seed),
        f"stbench demo cohort v{DEMO_VERSION} seed {seed}",
    )


def ensure_builtin(name: str, root: Path | str) -> Path:
    """The directory of the built-in cohort ``name`` (``demo`` or ``demo-sparse``), generated if needed."""
    if name == "demo-sparse":
        from stbench.data.demo_sparse import ensure_demo_sparse

        return ensure_demo_sparse(root)
    if name == "demo":
        return ensure_demo(root)
    raise ValueError(f"No built-in cohort named {name!r}.")


def ensure_generated(final: Path, generate: Callable[[Path], object], marker: str) -> Path:
    """``final``, written by ``generate(directory)`` unless its ``COMPLETE`` marker exists.

    A cohort counts as present only when its ``COMPLETE`` marker exists. Generation goes to a
    temporary sibling directory that is renamed into place after the marker (text ``marker``)
    is written, so a half-written cohort is never seen; an incomplete directory left at the
    final path is replaced. Safe against concurrent callers: whoever renames first wins and
    the others discard their copy.
    """
    if (final / "COMPLETE").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the cohort is shared like the rest of the root
    try:
        generate(tmp)
        (tmp / "COMPLETE").write_text(marker + "\n")
        if final.exists() and not (final / "COMPLETE").is_file():
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "COMPLETE").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


# --------------------------------------------------------------------------------------
# Gene panel and expression programs (shared by all slides of a cohort)
# --------------------------------------------------------------------------------------


@dataclass
class _Panel:
    names: list[str]  # (G_all,) master genes then the extra pool
    n_master: int
    log_base: np.ndarray  # (G_all,) baseline log abundance
    domain_lfc: np.ndarray  # (K, G_all) log fold changes of each domain's programme
    markers: list[np.ndarray]  # K arrays of gene indices
    programs: dict[str, np.ndarray]  # program name -> gene indices
    dispersion: np.ndarray  # (G_all,) NB dispersion phi (var = mu + phi mu^2)
    droppable: np.ndarray  # master genes a slide may lack (background genes only)


def _make_gene_panel(rng: np.random.Generator, n_genes: int) -> _Panel:
    names = [f"GENE{i + 1:04d}" for i in range(n_genes)]
    named_groups = [*_NAMED_MARKERS.values(), _NAMED_PROLIF, _NAMED_ECM, _NAMED_IFN, _NAMED_HOUSEKEEPING]
    n_named = sum(len(g) for g in named_groups)
    slots = rng.permutation(n_genes)
    free = list(slots[n_named:])  # positions that keep a GENE#### name, in random order
    pos = iter(slots[:n_named])
    group_idx = []
    for group in named_groups:
        idx = []
        for name in group:
            p = int(next(pos))
            names[p] = name
            idx.append(p)
        group_idx.append(idx)
    k = len(DOMAINS)
    extras = [f"LOC9000{j:02d}" for j in range(_N_EXTRA_POOL)]
    names = names + extras
    g_all = len(names)

    log_base = rng.normal(0.0, 1.5, g_all)
    hk = group_idx[-1]
    log_base[hk] = rng.uniform(4.0, 6.0, len(hk))
    # Fill every programme up to its size with background genes of moderate-to-high baseline.
    order = [p for p in free if log_base[p] > np.quantile(log_base[:n_genes], 0.35)]
    take = iter(order)
    markers = []
    for d in range(k):
        idx = list(group_idx[d]) + [int(next(take)) for _ in range(_MARKERS_PER_DOMAIN - len(group_idx[d]))]
        markers.append(np.array(idx))
    programs = {}
    for j, name in enumerate(("proliferation", "ecm", "interferon")):
        idx = list(group_idx[k + j])
        idx += [int(next(take)) for _ in range(_PROGRAM_SIZE[name] - len(idx))]
        programs[name] = np.array(idx)
    for d in range(k):  # named markers are well expressed
        log_base[group_idx[d]] += 1.0

    lfc = rng.normal(0.0, 0.15, (k, g_all))
    for d in range(k):
        lfc[d, markers[d]] = np.log(rng.uniform(4.0, 10.0, len(markers[d])))
    used = set(np.concatenate(markers + list(programs.values())).tolist()) | set(hk)
    droppable = np.array([p for p in range(n_genes) if p not in used])
    dispersion = np.exp(rng.normal(np.log(0.15), 0.5, g_all))
    return _Panel(names, n_genes, log_base, lfc, markers, programs, dispersion, droppable)


# --------------------------------------------------------------------------------------
# Texture tiles (periodic, shared by all slides; each slide reads them at its own offsets)
# --------------------------------------------------------------------------------------


@dataclass
class _Tiles:
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


_NUCLEUS_CLASSES = {
    # spacing of the jittered lattice (px), semi-major axis range (px), aspect range, profile
    "large": (30.0, (8.5, 12.5), (0.65, 1.0), "vesicular"),
    "medium": (22.0, (5.5, 7.5), (0.7, 1.0), "solid"),
    "small": (14.0, (4.2, 5.6), (0.85, 1.0), "dense"),
    "spindle": (38.0, (10.0, 16.0), (0.2, 0.3), "solid"),
}


def _jittered_hex(rng: np.random.Generator, t: int, spacing: float, jitter: float) -> np.ndarray:
    """Points (n, 2) as (y, x) on a periodic jittered hexagonal lattice in a t x t tile."""
    nx = max(1, round(t / spacing))
    ny = max(2, 2 * round(t / (spacing * 0.866) / 2))
    sx, sy = t / nx, t / ny
    j, i = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    y = j * sy + rng.uniform(-jitter, jitter, j.shape) * sy
    x = i * sx + (j % 2) * sx / 2 + rng.uniform(-jitter, jitter, j.shape) * sx
    return np.stack([y.ravel() % t, x.ravel() % t], axis=1)


def _nucleus_tile(rng: np.random.Generator, t: int, cls: str) -> tuple[np.ndarray, np.ndarray]:
    spacing, a_rng, asp_rng, profile = _NUCLEUS_CLASSES[cls]
    pts = _jittered_hex(rng, t, spacing, 0.3)
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


def _voronoi_tile(
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


def _normalise(z: np.ndarray) -> np.ndarray:
    return ((z - z.mean()) / (z.std() + 1e-12)).astype(np.float32)


def _make_tiles(rng: np.random.Generator) -> _Tiles:
    from scipy import ndimage

    t = _TILE
    nuc_h, nuc_u = {}, {}
    for cls in _NUCLEUS_CLASSES:
        nuc_h[cls], nuc_u[cls] = _nucleus_tile(rng, t, cls)
    # Adipocytes: large empty cells with thin membranes.
    d1, d2, owner, fat_seed = _voronoi_tile(rng, t, 80.0)
    fat_membrane = np.clip(1.0 - (d2 - d1 - 1.0) / 2.5, 0.0, 1.0).astype(np.float32)
    fat_u = rng.uniform(0, 1, owner.max() + 1).astype(np.float32)[owner]
    # Glands: round lumens of varying size.
    d1, _, owner, gland_seed = _voronoi_tile(rng, t, 120.0)
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
        z = _normalise(np.fft.irfft2(spec * filt, s=(t, t)))
        fibres.append(np.clip((z - 0.5) / 1.5, 0.0, 1.0).astype(np.float32))
    noise = rng.standard_normal((t, t))
    tex = 0.7 * _normalise(ndimage.gaussian_filter(noise, 1.0, mode="wrap"))
    tex += 0.3 * _normalise(ndimage.gaussian_filter(rng.standard_normal((t, t)), 5.0, mode="wrap"))
    grain = rng.normal(0.0, 1.5, (t, t, 3)).astype(np.float32)
    return _Tiles(
        nuc_h, nuc_u, fat_membrane, fat_u, fat_seed, lumen, gland_u, gland_seed, fibres, _normalise(tex), grain
    )


# --------------------------------------------------------------------------------------
# One slide
# --------------------------------------------------------------------------------------


@dataclass
class _Slide:
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


def _barcode(index: np.ndarray) -> np.ndarray:
    """16-nt Visium-like barcodes from grid indices: a fixed bijection, same on every slide."""
    v = (index.astype(np.uint64) * np.uint64(2654435761) + np.uint64(97531)) % np.uint64(4**16)
    digits = (v[:, None] >> (np.arange(15, -1, -1, dtype=np.uint64) * np.uint64(2))[None, :]) & np.uint64(3)
    letters = np.array(list("ACGT"))[digits.astype(np.int64)]
    return np.array(["".join(row) + "-1" for row in letters])


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float) -> np.ndarray:
    """Zero-mean unit-variance Gaussian random field on the coarse grid, float32 ``shape``."""
    from scipy import ndimage

    z = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_px / _COARSE, mode="reflect")
    return _normalise(z)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0)))


def _make_slide(
    seed: int, index: int, patient: int, panel: _Panel, tiles: _Tiles, n_spots: tuple[int, int] = (250, 400)
) -> _Slide:
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
    width = int(np.ceil((cx.max() + pad) / _COARSE) * _COARSE)
    height = int(np.ceil((cy.max() + pad) / _COARSE) * _COARSE)
    hc, wc = height // _COARSE, width // _COARSE

    def at_spots(field: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """Bilinear sample of a coarse field at full-res pixel centres (PIL's convention)."""
        coords = np.stack([(ys + 0.5) / _COARSE - 0.5, (xs + 0.5) / _COARSE - 0.5])
        return ndimage.map_coordinates(field, coords, order=1, mode="nearest")

    # Tissue shape: a noisy blob; keep the n_target grid spots with the highest score.
    yy = (np.arange(hc)[:, None] + 0.5) * _COARSE
    xx = (np.arange(wc)[None, :] + 0.5) * _COARSE
    ey, ex = height / 2 * rng_geo.uniform(0.85, 1.15), width / 2 * rng_geo.uniform(0.85, 1.15)
    blob = 1.0 - np.sqrt(((yy - height / 2) / ey) ** 2 + ((xx - width / 2) / ex) ** 2)
    score = (blob + 0.25 * _smooth_field(rng_geo, (hc, wc), 350.0)).astype(np.float32)
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
    logits = np.stack([_smooth_field(rng_geo, (hc, wc), 260.0) for _ in range(k)])
    logits = (logits + np.log(prop + 1e-3)[:, None, None]) / 0.3
    w = np.exp(logits - logits.max(axis=0, keepdims=True))
    w = (w / w.sum(axis=0, keepdims=True)).astype(np.float32)  # (K, hc, wc)
    prolif = _sigmoid(1.8 * _smooth_field(rng_geo, (hc, wc), 200.0)).astype(np.float32)
    ecm = _sigmoid(1.8 * _smooth_field(rng_geo, (hc, wc), 200.0)).astype(np.float32)
    ifn = _smooth_field(rng_geo, (hc, wc), 300.0)
    orient = _sigmoid(2.0 * _smooth_field(rng_geo, (hc, wc), 300.0)).astype(np.float32)
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
        gain[:, panel.programs[name]] += _PROGRAM_GAIN[name] * drive[:, None]
    g_all = len(panel.names)
    batch = rng_pat.normal(0.0, 0.2, g_all) + rng_expr.normal(0.0, 0.12, g_all)
    mean = mean * np.exp(gain + batch[None, :])
    mean /= mean.sum(axis=1, keepdims=True)
    depth = np.exp(rng_expr.normal(np.log(4000.0), 0.3))
    alpha_s = _sigmoid((spot_score - thr) / 0.01)
    lib = depth * (w_s @ _CELLULARITY) * np.exp(rng_expr.normal(0.0, 0.3, len(r))) * np.clip(alpha_s, 0.3, 1.0)
    mu = mean * lib[:, None]
    phi = panel.dispersion[None, :]
    rate = rng_expr.gamma(1.0 / phi, mu * phi)  # the spot's true expression: its Poisson rate per gene
    counts = rng_expr.poisson(rate).astype(np.float32)
    n_drop = int(rng_expr.integers(0, 21))
    dropped = rng_expr.choice(panel.droppable, size=min(n_drop, len(panel.droppable)), replace=False)
    n_extra = int(rng_expr.integers(2, 9))
    extras = panel.n_master + rng_expr.choice(_N_EXTRA_POOL, size=n_extra, replace=False)
    gene_idx = np.concatenate([np.setdiff1d(np.arange(panel.n_master), dropped), np.sort(extras)])
    counts = counts[:, gene_idx]

    # ---- image ------------------------------------------------------------------------
    maps = {
        "score": score,
        "eosin": np.tensordot(_EOSIN, w, 1),
        "cyto_h": np.tensordot(_CYTO_H, w, 1),
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
    stain = _stain(rng_img)
    fib_pair = rng_img.choice(4, size=2, replace=False)
    offsets = rng_img.integers(0, _TILE, (9, 2))
    image = _render(height, width, np.stack([cx, cy], axis=1), thr, maps, tiles, stain, fib_pair, offsets)

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

    return _Slide(
        barcodes=_barcode(grid_index),
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


@dataclass
class _Stain:
    v_h: np.ndarray  # (3,) haematoxylin OD vector (unit norm) times its strength
    v_e: np.ndarray  # (3,) eosin OD vector times its strength
    background: np.ndarray  # (3,) glass/illumination RGB


def _stain(rng: np.random.Generator) -> _Stain:
    """Per-slide stain: perturbed Ruifrok H&E vectors and strengths (the colour batch effect)."""
    v_h = np.array([0.65, 0.70, 0.29]) + rng.normal(0.0, 0.05, 3)
    v_e = np.array([0.07, 0.99, 0.11]) + rng.normal(0.0, 0.05, 3)
    v_h = np.abs(v_h) / np.linalg.norm(v_h) * rng.uniform(0.8, 1.25)
    v_e = np.abs(v_e) / np.linalg.norm(v_e) * rng.uniform(0.75, 1.3)
    background = rng.uniform(232.0, 250.0) + rng.normal(0.0, 3.0, 3)
    return _Stain(v_h.astype(np.float32), v_e.astype(np.float32), np.clip(background, 200, 255).astype(np.float32))


def _tile_band(tile: np.ndarray, y0: int, y1: int, x0: int, x1: int, offset: np.ndarray) -> np.ndarray:
    """Rows y0:y1, columns x0:x1 of the periodic (T, T, ...) tile shifted by ``offset`` (oy, ox)."""
    t = tile.shape[0]
    rows = tile[(np.arange(y0, y1) + offset[0]) % t]
    ox = int(offset[1] + x0) % t
    reps = (ox + x1 - x0) // t + 1
    return np.tile(rows, (1, reps) + (1,) * (rows.ndim - 2))[:, ox : ox + x1 - x0]


def _upsample_band(field: np.ndarray, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """Bilinear upsampling of a coarse (hc, wc) field to full-res pixels [y0:y1, x0:x1]."""
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(field, dtype=np.float32))
    box = (x0 / _COARSE, y0 / _COARSE, x1 / _COARSE, y1 / _COARSE)
    return np.asarray(img.resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR, box=box))


def _render(
    height: int,
    width: int,
    centres: np.ndarray,
    thr: float,
    maps: dict[str, np.ndarray],
    tiles: _Tiles,
    stain: _Stain,
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
    classes = list(_NUCLEUS_CLASSES)
    for y0 in range(0, height, _BAND):
        y1 = min(height, y0 + _BAND)
        near = (centres[:, 1] + half > y0) & (centres[:, 1] - half < y1)
        if not near.any():
            continue
        x0 = max(0, int(centres[near, 0].min()) - half)
        x1 = min(width, int(centres[near, 0].max()) + half)
        m = {name: _upsample_band(f, y0, y1, x0, x1) for name, f in maps.items()}
        tb = lambda tile, o: _tile_band(tile, y0, y1, x0, x1, offsets[o])  # noqa: E731
        ys, xs = np.arange(y0, y1)[:, None], np.arange(x0, x1)[None, :]

        def at_seed(coarse: np.ndarray, seed: np.ndarray, o: int) -> np.ndarray | float:
            """``coarse`` looked up at the centre of the cell each pixel belongs to."""
            r0, r1 = max(0, y0 // _COARSE - 8), y1 // _COARSE + 8  # seeds lie < 128 px away
            if not coarse[r0:r1].any():
                return 0.0
            iy = (tb(seed[0], o) + ys) // _COARSE
            ix = (tb(seed[1], o) + xs) // _COARSE
            return coarse[np.clip(iy, 0, coarse.shape[0] - 1), np.clip(ix, 0, coarse.shape[1] - 1)]

        alpha = _sigmoid((m["score"] - thr) / 0.003)
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


# --------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------


def _write_h5ad(path: Path, slide: _Slide) -> None:
    import anndata as ad
    import pandas as pd
    import scipy.sparse as sp

    obs = pd.DataFrame(
        {
            "in_tissue": np.ones(slide.n_spots, np.int64),
            "array_row": slide.array_row,
            "array_col": slide.array_col,
            "pxl_row_in_fullres": slide.centre[:, 1],
            "pxl_col_in_fullres": slide.centre[:, 0],
        },
        index=pd.Index(slide.barcodes.astype(str), name=None),
    )
    var = pd.DataFrame(index=pd.Index(slide.gene_names, name=None))
    adata = ad.AnnData(X=sp.csr_matrix(slide.counts), obs=obs, var=var)
    adata.obsm["spatial"] = slide.centre.astype(np.float64)
    adata.write_h5ad(path)


def _write_patches(path: Path, sid: str, slide: _Slide) -> None:
    import h5py

    rows = slide.patch_rows
    with h5py.File(path, "w") as f:
        img = f.create_dataset(
            "img", data=slide.patches, chunks=(1, PATCH_SIZE, PATCH_SIZE, 3), track_times=False
        )
        img.attrs["pixel_size_um"] = UM_PER_PX
        bc = np.array([b.encode() for b in slide.barcodes[rows]], dtype="S")[:, None]
        f.create_dataset("barcode", data=bc, track_times=False)
        coords = f.create_dataset(
            "coords", data=(slide.centre[rows] - PATCH_SIZE // 2).astype(np.int64), track_times=False
        )
        coords.attrs["patch_size"] = PATCH_SIZE
        coords.attrs["patch_size_src"] = PATCH_SIZE
        coords.attrs["level"] = 0
        coords.attrs["name"] = sid
        coords.attrs["corner"] = "top-left (x, y)"


def metadata_row(sid: str, title: str, patient: str, slide: _Slide, n_genes: int) -> dict[str, Any]:
    """One built-in slide's row of ``metadata.csv`` (HEST-1k columns; sizes in micrometres/pixels)."""
    return {
        "id": sid,
        "dataset_title": title,
        "st_technology": "Visium",
        "organ": "Synthetic",
        "species": "Homo sapiens",
        "patient": patient,
        "tissue": "Synthetic",
        "disease_state": "Cancer",
        "preservation_method": "Synthetic",
        "inter_spot_dist": SPOT_SPACING_PX * UM_PER_PX,
        "spot_diameter": SPOT_DIAMETER_UM,
        "pixel_size_um_estimated": UM_PER_PX,
        "pixel_size_um_embedded": UM_PER_PX,
        "magnification": "20x",
        "spots_under_tissue": slide.n_spots,
        "nb_genes": n_genes,
        "fullres_px_width": slide.width,
        "fullres_px_height": slide.height,
    }
