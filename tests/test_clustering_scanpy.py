"""The clustering pipeline against scanpy itself: the NumPy connectivities equal
``sc.pp.neighbors``'s and the labels equal ``sc.tl.leiden``'s, on synthetic matrices (PCA and
no-PCA panels, fewer spots than neighbours) and on real ST sections.

Slow: importing scanpy and its first ``neighbors`` call compile umap's numba code (17-30 s),
which is the cost stbench avoids by not calling scanpy.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from stbench.metrics import canonical_order, leiden_labels
from stbench.metrics.neighbors import scanpy_connectivities
from tests.clustering_data import mob_section

pytestmark = pytest.mark.slow

SEEDS = (0, 1, 2)


def _matrix(n_spots: int, n_genes: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n_spots, 6)) @ rng.normal(size=(6, n_genes))
    return np.log1p(np.abs(latent + rng.normal(size=(n_spots, n_genes)) * 2)).astype(np.float32)


def _scanpy_graph(x: np.ndarray):
    sc = pytest.importorskip("scanpy")
    import anndata

    adata = anndata.AnnData(x.copy())
    n_pcs = min(30, x.shape[0] - 1, x.shape[1] - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.pp.pca(adata, n_comps=n_pcs)
        sc.pp.neighbors(adata, n_neighbors=15, n_pcs=n_pcs)
    return sc, adata


def _scanpy_labels(sc, adata, *, seed: int, flavor: str, use_weights: bool = True) -> np.ndarray:
    extra = {"directed": True} if flavor == "leidenalg" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.tl.leiden(
            adata, resolution=1.0, flavor=flavor, n_iterations=2, random_state=seed, use_weights=use_weights, **extra
        )
    return adata.obs["leiden"].astype(int).to_numpy()


def _assert_same_graph_and_labels(x: np.ndarray) -> None:
    x = x[canonical_order(x)]  # stbench clusters the spots in this order, so scanpy gets it too
    sc, adata = _scanpy_graph(x)
    theirs = adata.obsp["connectivities"]
    ours = scanpy_connectivities(x, n_pcs=30, n_neighbors=15)
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal((ours != 0).toarray(), (theirs != 0).toarray())
    assert abs(ours - theirs).max() < 1e-5  # float32 exp differs in the last bits from numba's
    for seed in SEEDS:
        for flavor in ("igraph", "leidenalg"):
            np.testing.assert_array_equal(
                leiden_labels(x, seed=seed, flavor=flavor), _scanpy_labels(sc, adata, seed=seed, flavor=flavor)
            )
    unweighted = _scanpy_labels(sc, adata, seed=0, flavor="igraph", use_weights=False)
    np.testing.assert_array_equal(leiden_labels(x, seed=0, use_weights=False), unweighted)


@pytest.mark.parametrize(
    ("n_spots", "n_genes"),
    [(300, 200), (500, 40), (1200, 300), (60, 100), (10, 80)],
    ids=["pca", "50-genes-or-fewer-no-pca", "1200-spots", "60-spots", "fewer-spots-than-neighbours"],
)
def test_graph_and_labels_equal_scanpys(n_spots, n_genes):
    _assert_same_graph_and_labels(_matrix(n_spots, n_genes, seed=n_spots))


@pytest.mark.parametrize("section", ["MOB1", "MOB3"])
def test_graph_and_labels_equal_scanpys_on_real_sections(shared_data, section):
    _assert_same_graph_and_labels(mob_section(shared_data, section))
