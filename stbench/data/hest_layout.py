"""The one writer of HEST-1k layout files: a slide's counts h5ad, its patch file and the folder's
``metadata.csv``.

Every producer of HEST-layout folders writes through here: the built-in synthetic cohorts
(:mod:`stbench.data.synthetic`), the STImage conversion (:mod:`stbench.data.stimage`), the
importers (:mod:`stbench.data.importers`) and the fold export (:mod:`stbench.submit.export`).
The layout (read back by :mod:`stbench.data.hest`)::

    metadata.csv      one row per slide: id, st_technology, organ, species, patient, ...
    st/{id}.h5ad      X (spots x genes); obsm["spatial"] float (n, 2) spot centres (x, y), full-res px
    patches/{id}.h5   img uint8 (n, 224, 224, 3), one chunk per patch; barcode |S (n, 1);
                      coords (n, 2) patch top-left (x, y), full-res px

The patch file is written in one fixed order (``img`` created with its attributes, then
``barcode``, then ``coords`` with its attributes, then the pixels block by block, in row
order), so the same inputs give the same bytes: prepared manifests record the files' sha256.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from stbench.data.spots import PATCH_SIZE


def write_counts_h5ad(
    path: Path,
    matrix: Any,
    barcodes: Any,
    genes: Any,
    centres: np.ndarray,
    *,
    obs: Any = None,
    obs_name: str | None = None,
    var_name: str | None = None,
    layers: Mapping[str, Any] | None = None,
    uns: Mapping[str, Any] | None = None,
) -> None:
    """Write one slide's ``st/{id}.h5ad``.

    Args:
        path: the file to write.
        matrix: X, spots x genes (raw counts, or log1p expression for an export), dense or csr.
        barcodes: (n,) spot ids, the obs index (named ``obs_name``); ``obs`` (a DataFrame of n
            rows) replaces the default empty frame and gets them as its index.
        genes: (g,) gene names, the var index (named ``var_name``).
        centres: (n, 2) spot centres (x, y) in full-resolution px, stored as obsm["spatial"]
            in their own dtype.
        layers, uns: AnnData layers and uns entries, in the order given.
    """
    import anndata as ad
    import pandas as pd

    index = pd.Index(np.asarray(barcodes).astype(str), dtype=str, name=obs_name)
    frame = pd.DataFrame(index=index) if obs is None else obs.set_axis(index, axis=0)
    var = pd.DataFrame(index=pd.Index(np.asarray(genes).astype(str), dtype=str, name=var_name))
    adata = ad.AnnData(matrix, obs=frame, var=var, obsm={"spatial": centres})
    for key, value in (layers or {}).items():
        adata.layers[key] = value
    for key, value in (uns or {}).items():
        adata.uns[key] = value
    adata.write_h5ad(path)


def write_patch_file(
    path: Path,
    barcodes: Any,
    top_left: np.ndarray,
    patches: np.ndarray | Iterable[np.ndarray],
    *,
    img_attrs: Mapping[str, Any] | None = None,
    coords_attrs: Mapping[str, Any] | None = None,
    gzip: int | None = None,
    track_times: bool | None = None,
) -> None:
    """Write one slide's ``patches/{id}.h5`` (see the module docstring for the order).

    Args:
        path: the file to write.
        barcodes: (n,) spot ids, stored as bytes (n, 1).
        top_left: (n, 2) patch top-left corners (x, y), full-res px, stored in their own dtype.
        patches: uint8 (n, 224, 224, 3) at once (stored when ``img`` is created, before the
            index), or an iterable of uint8 (k, 224, 224, 3) blocks in row order (stored after it).
        img_attrs, coords_attrs: attributes of ``img`` and ``coords``, in the order given.
        gzip: gzip level of ``img`` (default uncompressed, as HEST-1k).
        track_times: h5py's dataset timestamps flag (``None``: h5py's default, no timestamps).
    """
    import h5py

    names = np.array([str(b).encode() for b in np.asarray(barcodes, dtype=str)], dtype="S").reshape(-1, 1)
    n = len(names)
    times = {} if track_times is None else {"track_times": track_times}
    chunks = (1, PATCH_SIZE, PATCH_SIZE, 3)
    compression = {} if gzip is None else {"compression": "gzip", "compression_opts": gzip}
    with h5py.File(path, "w") as f:
        if isinstance(patches, np.ndarray):
            img = f.create_dataset("img", data=patches, chunks=chunks, **compression, **times)
            blocks: Iterable[np.ndarray] = ()
        else:
            img = f.create_dataset("img", shape=(n, *chunks[1:]), dtype=np.uint8, chunks=chunks, **compression, **times)
            blocks = patches
        for key, value in (img_attrs or {}).items():
            img.attrs[key] = value
        f.create_dataset("barcode", data=names, **times)
        coords = f.create_dataset("coords", data=top_left, **times)
        for key, value in (coords_attrs or {}).items():
            coords.attrs[key] = value
        start = 0
        for block in blocks:
            img[start : start + len(block)] = block
            start += len(block)
        if not isinstance(patches, np.ndarray) and start != n:
            raise ValueError(f"{n} barcodes but {start} patches for {path}.")


def write_metadata_table(out: Path, rows: Any, columns: list[str] | None = None) -> Path:
    """Write ``out/metadata.csv``: ``rows`` (dicts, or a DataFrame) with ``columns`` in that order
    (all of them, in their order, when None), no index column; returns its path."""
    import pandas as pd

    path = Path(out) / "metadata.csv"
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)
    return path
