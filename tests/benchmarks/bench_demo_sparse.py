"""Time to generate the ``demo-sparse`` cohort and its size on disk (not run in CI).

    python tests/benchmarks/bench_demo_sparse.py

Generates the default cohort (10 slides, 12,000 genes) into a temporary folder and prints the
wall and CPU seconds, the disk size, and the per-slide spots, median UMIs and median detected
genes per spot.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    import anndata as ad
    import pandas as pd

    from stbench.data.demo_sparse import generate_demo_sparse

    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = time.perf_counter(), time.process_time()
        out = generate_demo_sparse(Path(tmp) / "demo-sparse")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        print(f"generated in {wall:.1f} s wall, {cpu:.1f} s CPU; {size / 2**20:.0f} MiB on disk")
        for sid in pd.read_csv(out / "metadata.csv")["id"]:
            x = ad.read_h5ad(out / "st" / f"{sid}.h5ad").X.tocsr()
            umis = np.median(np.asarray(x.sum(axis=1)).ravel())
            print(f"{sid}: {x.shape[0]} spots, median {umis:.0f} UMIs, median {np.median(np.diff(x.indptr)):.0f} genes")


if __name__ == "__main__":
    main()
