"""Data for the clustering tests: synthetic slides made of expression domains, and real
legacy-ST sections (mouse olfactory bulb, ../shared/data/real/stutility-mob), both as the
(spots, genes) float32 log1p matrices the clustering metrics receive."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def domains_slide(seed: int, n_spots: int = 400, n_genes: int = 80, n_domains: int = 6) -> np.ndarray:
    """(spots, genes) float32 log1p counts of a slide made of ``n_domains`` expression programs."""
    rng = np.random.default_rng(seed)
    programs = rng.gamma(0.5, 2.0, size=(n_domains, n_genes))
    domain = rng.integers(0, n_domains, size=n_spots)
    return np.log1p(rng.poisson(programs[domain] * 2)).astype(np.float32)


def mob_section(shared_data: Path, name: str) -> np.ndarray:
    """float32 (spots under tissue, 1,000 genes): log1p of counts scaled to 10,000 per spot."""
    folder = shared_data / "real" / "stutility-mob"
    counts = pd.read_csv(folder / f"{name}.tsv.gz", sep="\t", index_col=0)
    spots = pd.read_csv(folder / f"alignment_table_{name}.tsv", sep="\t")
    under_tissue = {f"{x}x{y}" for x, y in spots.loc[spots["selected"] == 1, ["x", "y"]].itertuples(index=False)}
    counts = counts.loc[[spot for spot in counts.index if spot in under_tissue]].to_numpy(dtype=np.float64)
    counts = counts[counts.sum(axis=1) > 0]
    return np.log1p(counts / counts.sum(axis=1, keepdims=True) * 1e4).astype(np.float32)
