"""What GenST writes to its workdir to be looked at: the interpretable gene dictionary and
image reconstructions.

* ``codebook_top_genes.csv`` (end of fit): for each gene-codebook atom b_k, the genes with the
  highest values of D_g(b_k), the expression profile the decoder gives a spot made of that
  atom alone (c = e_k, a vertex of the coefficient simplex). Columns: atom, rank, gene, value
  (log1p).
* ``reconstructions/<slide>.png`` (each predict call, one per predicted slide): the slide's
  first few patches (top row) above their image-branch reconstructions x̂_i (bottom row),
  both de-normalised to RGB at the model's input size.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genst.modules import GeneAutoencoder
from stbench.torchkit.augment import denormalise


@torch.no_grad()
def atom_profiles(gene: GeneAutoencoder) -> np.ndarray:
    """D_g(b_k) for every atom: float32 (K, G). The caller puts the module in eval mode."""
    atoms = gene.codebook.atoms
    return gene.decode(atoms).float().cpu().numpy()


def write_codebook_csv(path: Path, gene: GeneAutoencoder, genes: Sequence[str], n_top: int) -> None:
    """Write the top ``n_top`` genes of each atom's decoded profile (see the module docstring)."""
    profiles = atom_profiles(gene)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["atom", "rank", "gene", "value"])
        for atom, profile in enumerate(profiles):
            top = np.argsort(-profile, kind="stable")[:n_top]
            for rank, g in enumerate(top, start=1):
                writer.writerow([atom, rank, genes[g], f"{profile[g]:.6g}"])


def write_reconstruction_grid(path: Path, images: torch.Tensor, reconstructions: torch.Tensor) -> None:
    """Save originals (top row) over reconstructions (bottom row) as a PNG.

    Args:
        images, reconstructions: float (n, 3, S, S) in the ImageNet-normalised space.
    """
    rows = [denormalise(t.detach().float().cpu()) for t in (images, reconstructions)]
    grid = torch.cat([torch.cat(list(r), dim=2) for r in rows], dim=1)  # (3, 2S, nS)
    pixels = (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def safe_filename(name: str) -> str:
    """A slide id made safe as a file name (anything but letters, digits, ``-_.`` -> ``_``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"
