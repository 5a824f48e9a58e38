"""Expression preprocessing and the cohort gene panel (GenST paper, section 3.1 and Appendix A).

Preprocessing of one slide (spots x genes raw counts):

* gene names are harmonised (:func:`harmonise_genes`): surrounding whitespace stripped and
  upper-cased, so ``"Gapdh"`` (mouse) and ``"GAPDH"`` (human) both become ``"GAPDH"``; columns
  whose harmonised names collide within a slide are summed;
* each spot is total-count normalised to :data:`TARGET_SUM` counts and ``log1p``-transformed
  (:func:`normalise_log1p`). The paper names the step but no factor; 1e4 is our choice and the
  convention of scanpy, HEST and most spot-expression work.

The panel of a cohort (:func:`build_panel`) is the union of

* the genes measured on every slide (common genes), and
* over all slides, each slide's top :data:`N_TOP` highly variable genes (scanpy
  ``highly_variable_genes(flavor="seurat")`` on the slide's log-normalised spots) and its top
  :data:`N_TOP` highly expressed genes (highest mean log-normalised expression; ties broken by
  name).

The panel is sorted by name; its identity is :func:`panel_sha256`.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

TARGET_SUM = 1e4
"""Counts each spot is scaled to before ``log1p`` (our choice; the paper gives none)."""
N_TOP = 100
"""Highly variable and highly expressed genes taken from each slide (paper, section 3.1)."""
HVG_FLAVOR = "seurat"
"""scanpy flavour for highly variable genes; "seurat" expects log-normalised data."""
_ROW_BLOCK = 1024  # spots normalised at a time
GENE_RULE = "strip surrounding whitespace, then upper-case; names that collide within a slide are summed"


def harmonise_gene_name(name: str) -> str:
    """The harmonised form of one gene name (whitespace stripped, upper-cased)."""
    return str(name).strip().upper()


def harmonise_genes(names: Sequence[str]) -> tuple[tuple[str, ...], np.ndarray]:
    """Harmonise a slide's gene names.

    Args:
        names: (n_genes,) gene names as stored in the slide.

    Returns:
        ``(genes, codes)``: the sorted unique harmonised names and, for each input column,
        int64 (n_genes,) its position in ``genes``. ``len(names) - len(genes)`` columns are
        duplicates that :func:`merge_columns` sums.
    """
    harmonised = [harmonise_gene_name(n) for n in names]
    genes = tuple(sorted(set(harmonised)))
    position = {g: i for i, g in enumerate(genes)}
    return genes, np.fromiter((position[g] for g in harmonised), np.int64, len(harmonised))


def merge_columns(matrix: sp.csr_matrix, codes: np.ndarray, n_out: int) -> sp.csr_matrix:
    """Sum the columns of ``matrix`` (n, g) that share a code: returns csr (n, n_out)."""
    if n_out == matrix.shape[1] and np.array_equal(codes, np.arange(n_out)):
        return matrix
    merge = sp.csr_matrix(
        (np.ones(len(codes), matrix.dtype), (np.arange(len(codes)), codes)), shape=(len(codes), n_out)
    )
    out = (matrix @ merge).tocsr()
    out.sort_indices()
    return out


def normalise_log1p(counts: sp.csr_matrix) -> sp.csr_matrix:
    """``log1p(count / spot_total * TARGET_SUM)``: csr float32 with the shape of ``counts``.

    ``counts`` (n_spots, n_genes) must have no all-zero rows (callers drop them first). Computed
    in float64 over blocks of rows, so the temporaries stay small; the result shares
    ``counts``' index arrays.
    """
    totals = np.asarray(counts.sum(axis=1), dtype=np.float64).ravel()
    scale = TARGET_SUM / totals
    indptr = counts.indptr
    data = np.empty(len(counts.data), np.float32)
    step = _ROW_BLOCK
    for start in range(0, counts.shape[0], step):
        stop = min(start + step, counts.shape[0])
        lo, hi = indptr[start], indptr[stop]
        block = counts.data[lo:hi].astype(np.float64) * np.repeat(scale[start:stop], np.diff(indptr[start : stop + 1]))
        data[lo:hi] = np.log1p(block)
    return sp.csr_matrix((data, counts.indices, indptr), shape=counts.shape)


@dataclass(frozen=True)
class SlideGenes:
    """What the panel rule needs from one slide: its gene set, HVGs and HEGs (harmonised names)."""

    genes: frozenset[str]
    hvg: tuple[str, ...]
    heg: tuple[str, ...]


def slide_genes(logx: sp.csr_matrix, genes: Sequence[str], n_top: int = N_TOP) -> SlideGenes:
    """Top highly variable and highly expressed genes of one slide.

    Args:
        logx: (n_spots, n_genes) log-normalised expression (:func:`normalise_log1p`).
        genes: (n_genes,) harmonised gene names.
        n_top: genes taken per criterion; a slide with at most ``n_top`` genes gives all.
    """
    genes = list(genes)
    if len(genes) <= n_top:
        return SlideGenes(frozenset(genes), tuple(genes), tuple(genes))
    mean = np.asarray(logx.mean(axis=0)).ravel()
    by_mean = sorted(range(len(genes)), key=lambda j: (-mean[j], genes[j]))
    heg = tuple(genes[j] for j in by_mean[:n_top])
    return SlideGenes(frozenset(genes), highly_variable(logx, genes, n_top), heg)


def highly_variable(logx: sp.csr_matrix, genes: Sequence[str], n_top: int = N_TOP) -> tuple[str, ...]:
    """Genes scanpy marks highly variable (flavour "seurat", ``n_top_genes=n_top``).

    Genes with no dispersion (constant over the slide's spots) cannot be selected, so a slide
    may give fewer than ``n_top``; ties at the cut-off may give a few more.
    """
    import anndata as ad
    import pandas as pd
    import scanpy as sc

    adata = ad.AnnData(logx, var=pd.DataFrame(index=pd.Index(list(genes), dtype=str)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_top_genes > number of normalized dispersions"
        table = sc.pp.highly_variable_genes(adata, flavor=HVG_FLAVOR, n_top_genes=n_top, inplace=False)
    return tuple(str(g) for g in table.index[table["highly_variable"].to_numpy()])


def build_panel(slides: Iterable[SlideGenes]) -> tuple[str, ...]:
    """The cohort panel: genes common to all slides, plus every slide's HVGs and HEGs; sorted."""
    slides = list(slides)
    if not slides:
        return ()
    common = frozenset.intersection(*(s.genes for s in slides))
    tops = {g for s in slides for g in (*s.hvg, *s.heg)}
    return tuple(sorted(common | tops))


def panel_sha256(genes: Sequence[str]) -> str:
    """sha256 (hex) of the panel's names joined by newlines."""
    return hashlib.sha256("\n".join(genes).encode()).hexdigest()
