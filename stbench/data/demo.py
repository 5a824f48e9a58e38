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
from pathlib import Path

import numpy as np

from stbench.data.synthetic.genes import DOMAINS, MIN_GENES, make_gene_panel
from stbench.data.synthetic.scale import PATCH_SIZE, SPOT_SPACING_PX, UM_PER_PX
from stbench.data.synthetic.slide import make_slide
from stbench.data.hest_layout import write_metadata_table
from stbench.data.synthetic.store import ensure_generated
from stbench.data.synthetic.texture import make_tiles
from stbench.data.synthetic.writers import metadata_row, write_slide_h5ad, write_slide_patches

DEMO_VERSION: str = "1"
"""Version of the generator's output; bumped whenever the generated arrays change."""


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
    if genes < MIN_GENES:
        raise ValueError(f"genes must be at least {MIN_GENES}, got {genes}.")
    out = Path(out_dir)
    (out / "st").mkdir(parents=True, exist_ok=True)
    (out / "patches").mkdir(parents=True, exist_ok=True)

    panel = make_gene_panel(np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,))), genes)
    tiles = make_tiles(np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,))))
    rows = []
    for i in range(n_slides):
        sid = f"DEMO{i:02d}"
        patient = i // 2
        slide = make_slide(seed, i, patient, panel, tiles)
        write_slide_h5ad(out / "st" / f"{sid}.h5ad", slide)
        write_slide_patches(out / "patches" / f"{sid}.h5", sid, slide)
        rows.append(metadata_row(sid, "stbench synthetic demo cohort", f"DEMO-P{patient}", slide, len(slide.gene_idx)))
    write_metadata_table(out, rows)
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
