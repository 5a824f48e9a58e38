"""The built-in ``demo-sparse`` cohort: the demo's tissue and images with the counts of real ST data.

The ``demo`` cohort has dense counts (about 1,000 genes, most detected in every spot) and a
strong image signal for many genes. Real Spatial Transcriptomics and low-depth Visium data
look different, and models tuned on ``demo`` alone can fail on them. :func:`generate_demo_sparse`
keeps the demo's morphology (every slide's layout, tissue domains, continuous programs, image
and patches come from :func:`stbench.data.synthetic.slide.make_slide`) and draws new counts from that
latent state with the statistics of real sparse data:

* a panel of 12,000 genes (the demo's named markers and programs, the rest ``GENE#####``), all
  measured on every slide;
* gene abundances log-normal (the demo's, sd 1.5 in natural log, housekeeping genes far above), so most genes are
  rarely detected: in a spot with 2,000 UMIs only about 1,000 genes have a count;
* library sizes from about 500 to about 10,000 UMIs per spot: each slide has its own depth
  (slide medians log-spaced from 700 to 10,000 UMIs, in a seeded order), times the demo's
  per-spot library variation (cellularity, tissue edge, noise); so the median number of
  detected genes per spot goes from about 500 to about 3,500 across slides;
* a strong image signal for a few programs only (the five domains' 30 markers at 4-10x and the
  proliferation and ECM programs, which are also made well expressed) and a weak one for all
  other genes (domain log fold changes of sd 0.15); the interferon program stays invisible;
* batch effects: per-gene log factors per patient (sd 0.25) and per slide (sd 0.15), the slide
  depth, and the demo's per-slide stain colour in the images;
* negative-binomial counts, dispersion log-normal around 0.3.

It is written in the HEST-1k layout (see :mod:`stbench.data.demo`), 10 slides of 180-280 spots
from 5 patients (two consecutive slides share one), ids ``SPARSE00``.. ``SPARSE09``. Slide
geometry and images use the demo generator with seed ``1000 + seed``, so they differ from the
``demo`` cohort's.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from stbench.data.synthetic.genes import DOMAINS, PROGRAM_GAIN, Panel, make_gene_panel
from stbench.data.synthetic.slide import SyntheticSlide, make_slide
from stbench.data.hest_layout import write_metadata_table
from stbench.data.synthetic.store import ensure_generated
from stbench.data.synthetic.texture import make_tiles
from stbench.data.synthetic.writers import metadata_row, write_slide_h5ad, write_slide_patches

DEMO_SPARSE_VERSION: str = "1"
"""Version of the generator's output; bumped whenever the generated arrays change."""

N_GENES = 12_000
N_SLIDES = 10
SPOTS_PER_SLIDE = (180, 280)
DEPTH_RANGE = (700.0, 10000.0)
"""Median UMIs per spot of the shallowest and the deepest slide."""
_STRONG_BOOST = 2.0  # added to the log abundance of marker and visible-program genes
_DISPERSION = 0.3
_PATIENT_BATCH_SD = 0.25
_SLIDE_BATCH_SD = 0.15
_GEOMETRY_SEED_OFFSET = 1000
_IMAGE_PANEL_GENES = 300  # the throw-away panel the demo's slide builder draws its own counts on


def generate_demo_sparse(out_dir: Path | str, *, seed: int = 0, n_slides: int = N_SLIDES) -> Path:
    """Write the ``demo-sparse`` cohort in the HEST-1k layout and return ``out_dir``.

    Args:
        out_dir: directory to write into (created if missing).
        seed: the cohort's seed; the same seed gives identical arrays.
        n_slides: number of slides (two consecutive slides share a patient). Slide depths
            are log-spaced over :data:`DEPTH_RANGE` across the ``n_slides`` slides.

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`. Besides ``metadata.csv``, ``st/`` and
        ``patches/`` it holds ``demo_info.json`` (parameters, and the genes of each program).

    About 1.5 s of CPU per slide (mostly the image), so the default 10 slides take about 15 s.
    """
    if n_slides < 1:
        raise ValueError(f"n_slides must be at least 1, got {n_slides}.")
    out = Path(out_dir)
    (out / "st").mkdir(parents=True, exist_ok=True)
    (out / "patches").mkdir(parents=True, exist_ok=True)
    geo_seed = _GEOMETRY_SEED_OFFSET + seed
    panel = make_gene_panel(_rng(seed, 0), N_GENES)
    image_panel = make_gene_panel(_rng(seed, 1), _IMAGE_PANEL_GENES)
    tiles = make_tiles(np.random.default_rng(np.random.SeedSequence(geo_seed, spawn_key=(1,))))
    log_abundance, strong = _abundance(panel)
    dispersion = np.exp(_rng(seed, 2).normal(np.log(_DISPERSION), 0.5, N_GENES))
    depths = np.exp(np.linspace(*np.log(DEPTH_RANGE), n_slides))[_rng(seed, 3).permutation(n_slides)]
    rows = []
    for i in range(n_slides):
        sid, patient = f"SPARSE{i:02d}", i // 2
        slide = make_slide(geo_seed, i, patient, image_panel, tiles, n_spots=SPOTS_PER_SLIDE)
        counts = _counts(slide, panel, log_abundance, dispersion, depths[i], _rng(seed, 4, patient), _rng(seed, 5, i))
        slide = replace(slide, counts=counts, gene_idx=np.arange(N_GENES), gene_names=panel.names[:N_GENES])
        write_slide_h5ad(out / "st" / f"{sid}.h5ad", slide)
        write_slide_patches(out / "patches" / f"{sid}.h5", sid, slide)
        rows.append(
            metadata_row(sid, "stbench synthetic sparse demo cohort", f"SPARSE-P{patient}", slide, N_GENES)
        )
    write_metadata_table(out, rows)
    info = {
        "demo_sparse_version": DEMO_SPARSE_VERSION,
        "seed": seed,
        "n_slides": n_slides,
        "genes": N_GENES,
        "slide_depth_umis": {r["id"]: round(float(d), 1) for r, d in zip(rows, depths)},
        "domains": list(DOMAINS),
        "markers": {d: [panel.names[g] for g in panel.markers[k]] for k, d in enumerate(DOMAINS)},
        "programs": {p: [panel.names[g] for g in idx] for p, idx in panel.programs.items()},
        "programs_visible_in_image": ["proliferation", "ecm"],
        "strong_genes": int(strong.sum()),
    }
    (out / "demo_info.json").write_text(json.dumps(info, indent=1) + "\n")
    return out


def demo_sparse_dir(root: Path | str, *, seed: int = 0) -> Path:
    """Where :func:`ensure_demo_sparse` keeps the cohort: ``root/demo-sparse/v{VERSION}-s{seed}``."""
    return Path(root) / "demo-sparse" / f"v{DEMO_SPARSE_VERSION}-s{seed}"


def ensure_demo_sparse(root: Path | str, *, seed: int = 0) -> Path:
    """The ``demo-sparse`` cohort under ``root``, generated once (atomically, see
    :func:`stbench.data.synthetic.store.ensure_generated`)."""
    return ensure_generated(
        demo_sparse_dir(root, seed=seed),
        lambda out: generate_demo_sparse(out, seed=seed),
        f"stbench demo-sparse cohort v{DEMO_SPARSE_VERSION} seed {seed}",
    )


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(100, *key)))


def _abundance(panel: Panel) -> tuple[np.ndarray, np.ndarray]:
    """Log abundance of the master genes (N_GENES,) and the mask of strongly imaged genes."""
    log_abundance = panel.log_base[:N_GENES].copy()
    strong = np.zeros(N_GENES, bool)
    for idx in [*panel.markers, panel.programs["proliferation"], panel.programs["ecm"]]:
        strong[idx] = True
    log_abundance[strong] += _STRONG_BOOST
    return log_abundance, strong


def _counts(
    slide: SyntheticSlide,
    panel: Panel,
    log_abundance: np.ndarray,
    dispersion: np.ndarray,
    depth: float,
    rng_patient: np.random.Generator,
    rng_slide: np.random.Generator,
) -> np.ndarray:
    """Negative-binomial counts float32 (n_spots, N_GENES) from the slide's latent state.

    Expected counts: the domain profiles mixed by the spot's domain weights, times the
    programs' gains, times the patient and slide batch factors, normalised to the spot's
    library size (the slide depth times the demo's relative per-spot library size).
    """
    truth = slide.truth
    profiles = log_abundance[None, :] + panel.domain_lfc[:, :N_GENES]  # (K, G)
    profiles = np.exp(profiles - profiles.max(axis=1, keepdims=True))
    profiles /= profiles.sum(axis=1, keepdims=True)
    mean = truth["domains"] @ profiles  # (N, G)
    gain = np.zeros_like(mean)
    for name in ("proliferation", "ecm", "interferon"):
        gain[:, panel.programs[name]] += PROGRAM_GAIN[name] * truth[name][:, None]
    batch = rng_patient.normal(0.0, _PATIENT_BATCH_SD, N_GENES) + rng_slide.normal(0.0, _SLIDE_BATCH_SD, N_GENES)
    mean *= np.exp(gain + batch[None, :])
    mean /= mean.sum(axis=1, keepdims=True)
    relative = truth["library_size"] / np.median(truth["library_size"])
    mu = mean * (depth * relative)[:, None]
    phi = dispersion[None, :]
    return rng_slide.poisson(rng_slide.gamma(1.0 / phi, mu * phi)).astype(np.float32)
