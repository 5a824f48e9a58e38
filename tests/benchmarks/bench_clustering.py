"""Benchmark the clustering metrics of one slide (a plain script, not a pytest test).

    python tests/benchmarks/bench_clustering.py                        # 300 and 4,000 spots x 8,000 genes
    python tests/benchmarks/bench_clustering.py --spots 2000 --genes 4000
    python tests/benchmarks/bench_clustering.py --scanpy               # also scanpy's pipeline, cold and warm

Builds a synthetic slide (log1p of Poisson counts from a mixture of spatial-domain expression
programs) and a noisy prediction of it, then times, for each size: the steps of one matrix's
graph (PCA, kNN search, UMAP weights), one Leiden run, one ``hungarian_chance`` estimate, and
:func:`stbench.metrics.cluster_slide` (both matrices, all seeds of ``CLUSTERING_DEFAULTS``).
Prints wall seconds and this process's CPU seconds (the machine may be shared: run it with
``OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1`` there, as threads spinning on a busy machine
inflate both).

With ``--scanpy`` it also times ``sc.pp.pca`` -> ``sc.pp.neighbors`` -> ``sc.tl.leiden`` on the
true matrix in a fresh process (import and numba compilation included: what every new worker
process pays once) and again in the same process (warm).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

from stbench.metrics import CLUSTERING_DEFAULTS, cluster_slide, hungarian_chance, leiden_labels
from stbench.metrics.neighbors import nearest_neighbors, representation, umap_connectivities


def synthetic_slide(n_spots: int, n_genes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(truth, prediction): float32 (spots, genes) log1p matrices with 8 spatial domains."""
    rng = np.random.default_rng(seed)
    programs = rng.gamma(0.3, 2.0, size=(8, n_genes))
    domain = rng.integers(0, 8, size=n_spots)
    mixture = np.eye(8)[domain] * 0.7 + rng.dirichlet(np.ones(8), size=n_spots) * 0.3
    truth = np.log1p(rng.poisson(mixture @ programs)).astype(np.float32)
    prediction = (0.2 * truth + 0.8 * truth.mean(axis=0) + rng.normal(0, 1.0, truth.shape)).astype(np.float32)
    return truth, prediction


def timed(label: str, fn: Callable[[], object]) -> object:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    print(f"  {label:<46} {time.perf_counter() - wall:7.3f} s wall {time.process_time() - cpu:7.3f} s cpu", flush=True)
    return out


SCANPY_SNIPPET = """
import time, warnings
import numpy as np
warnings.filterwarnings("ignore")
x = np.load({path!r})
t = time.perf_counter()
import scanpy as sc, anndata as ad
t_import = time.perf_counter() - t
for label in ("first call (numba compiles)", "second call (warm)"):
    a = ad.AnnData(x.copy())
    t = time.perf_counter()
    sc.pp.pca(a, n_comps=30)
    sc.pp.neighbors(a, n_neighbors=15, n_pcs=30)
    sc.tl.leiden(a, flavor="igraph", n_iterations=2, resolution=1.0, random_state=0)
    print(f"  scanpy pca+neighbors+leiden, {{label:<28}} {{time.perf_counter() - t:7.3f}} s wall")
print(f"  scanpy import                                   {{t_import:7.3f}} s wall")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spots", type=int, nargs="+", default=[300, 4000])
    parser.add_argument("--genes", type=int, default=8000)
    parser.add_argument("--scanpy", action="store_true", help="also time scanpy's pipeline (cold and warm)")
    args = parser.parse_args()
    print(f"CLUSTERING_DEFAULTS = {CLUSTERING_DEFAULTS}")
    for n_spots in args.spots:
        truth, prediction = synthetic_slide(n_spots, args.genes, seed=n_spots)
        print(f"{n_spots} spots x {args.genes} genes")
        points = timed("PCA (ARPACK, 30 components)", lambda: representation(truth, 30))
        knn = timed("exact 15-NN search", lambda: nearest_neighbors(points, 15))
        timed("UMAP weights", lambda: umap_connectivities(*knn))
        labels = timed("whole graph + one Leiden run (one matrix)", lambda: leiden_labels(truth, seed=99))
        shuffled = np.random.default_rng(0).permutation(labels)
        timed("hungarian_chance (1,000 draws)", lambda: hungarian_chance(labels, shuffled, n_permutations=1000))
        label = f"cluster_slide: 2 matrices x {CLUSTERING_DEFAULTS['n_seeds']} seeds"
        result = timed(label, lambda: cluster_slide(truth, prediction))
        shown = ("hungarian", "hungarian_chance", "hungarian_adjusted", "ari", "nmi", "n_clusters_true")
        print("  scores: " + ", ".join(f"{k} {result.scores[k]:.3f}" for k in shown))
        if args.scanpy:
            path = f"/tmp/bench_clustering_{n_spots}.npy"
            np.save(path, truth)
            subprocess.run([sys.executable, "-c", SCANPY_SNIPPET.format(path=path)], check=True)


if __name__ == "__main__":
    main()
