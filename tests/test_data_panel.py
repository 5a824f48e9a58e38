"""Expression normalisation, gene-name harmonisation and the panel rule (paper 3.1, Appendix A)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from stbench.data.panel import (
    SlideGenes,
    build_panel,
    harmonise_genes,
    merge_columns,
    normalise_log1p,
    panel_sha256,
    slide_genes,
)


def test_normalise_log1p_matches_formula() -> None:
    counts = np.array([[1, 0, 3], [0, 2, 2], [5, 5, 0]], np.float32)
    got = normalise_log1p(sp.csr_matrix(counts)).toarray()
    want = np.log1p(counts / counts.sum(axis=1, keepdims=True) * 1e4)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # every spot sums to 1e4 before the log
    np.testing.assert_allclose(np.expm1(got.astype(np.float64)).sum(axis=1), 1e4, rtol=1e-5)


def test_harmonise_strips_upper_cases_and_merges_duplicates() -> None:
    genes, codes = harmonise_genes(["Actb", " ACTB", "Gapdh ", "mt-Co1"])
    assert genes == ("ACTB", "GAPDH", "MT-CO1")
    assert codes.tolist() == [0, 0, 1, 2]
    x = sp.csr_matrix(np.array([[1, 2, 3, 4], [0, 1, 0, 0]], np.float32))
    merged = merge_columns(x, codes, len(genes)).toarray()
    np.testing.assert_array_equal(merged, [[3, 3, 4], [1, 0, 0]])


def test_panel_is_common_genes_plus_tops_sorted() -> None:
    a = SlideGenes(frozenset({"A", "B", "C", "X"}), hvg=("X",), heg=("A",))
    b = SlideGenes(frozenset({"A", "B", "C", "Y", "Z"}), hvg=("Y",), heg=("B",))
    panel = build_panel([a, b])
    assert panel == ("A", "B", "C", "X", "Y")  # Z is neither common nor a top gene
    assert panel_sha256(panel) == panel_sha256(["A", "B", "C", "X", "Y"])
    assert build_panel([]) == ()


def test_slide_with_fewer_genes_than_n_top_gives_all() -> None:
    x = normalise_log1p(sp.csr_matrix(np.random.default_rng(0).poisson(3, (20, 7)).astype(np.float32) + 1))
    genes = [f"G{i}" for i in range(7)]
    got = slide_genes(x, genes, n_top=100)
    assert set(got.hvg) == set(got.heg) == got.genes == set(genes)


def test_highly_expressed_genes_are_the_top_means() -> None:
    rng = np.random.default_rng(1)
    counts = rng.poisson(1.0, (40, 30)).astype(np.float32)
    counts[:, 3] += 50
    counts[:, 17] += 30
    counts[:, 0] += 1
    x = normalise_log1p(sp.csr_matrix(counts))
    genes = [f"G{i:02d}" for i in range(30)]
    got = slide_genes(x, genes, n_top=2)
    assert got.heg == ("G03", "G17")
    assert 0 < len(got.hvg) <= 3  # scanpy may include ties at the cut-off
