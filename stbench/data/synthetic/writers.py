"""Files of a synthetic slide in the HEST-1k layout: counts h5ad, patch file, metadata row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from stbench.data.synthetic.scale import PATCH_SIZE, SPOT_DIAMETER_UM, SPOT_SPACING_PX, UM_PER_PX
from stbench.data.synthetic.slide import SyntheticSlide


def write_slide_h5ad(path: Path, slide: SyntheticSlide) -> None:
    import anndata as ad
    import pandas as pd
    import scipy.sparse as sp

    obs = pd.DataFrame(
        {
            "in_tissue": np.ones(slide.n_spots, np.int64),
            "array_row": slide.array_row,
            "array_col": slide.array_col,
            "pxl_row_in_fullres": slide.centre[:, 1],
            "pxl_col_in_fullres": slide.centre[:, 0],
        },
        index=pd.Index(slide.barcodes.astype(str), name=None),
    )
    var = pd.DataFrame(index=pd.Index(slide.gene_names, name=None))
    adata = ad.AnnData(X=sp.csr_matrix(slide.counts), obs=obs, var=var)
    adata.obsm["spatial"] = slide.centre.astype(np.float64)
    adata.write_h5ad(path)


def write_slide_patches(path: Path, sid: str, slide: SyntheticSlide) -> None:
    import h5py

    rows = slide.patch_rows
    with h5py.File(path, "w") as f:
        img = f.create_dataset(
            "img", data=slide.patches, chunks=(1, PATCH_SIZE, PATCH_SIZE, 3), track_times=False
        )
        img.attrs["pixel_size_um"] = UM_PER_PX
        bc = np.array([b.encode() for b in slide.barcodes[rows]], dtype="S")[:, None]
        f.create_dataset("barcode", data=bc, track_times=False)
        coords = f.create_dataset(
            "coords", data=(slide.centre[rows] - PATCH_SIZE // 2).astype(np.int64), track_times=False
        )
        coords.attrs["patch_size"] = PATCH_SIZE
        coords.attrs["patch_size_src"] = PATCH_SIZE
        coords.attrs["level"] = 0
        coords.attrs["name"] = sid
        coords.attrs["corner"] = "top-left (x, y)"


def metadata_row(sid: str, title: str, patient: str, slide: SyntheticSlide, n_genes: int) -> dict[str, Any]:
    """One built-in slide's row of ``metadata.csv`` (HEST-1k columns; sizes in micrometres/pixels)."""
    return {
        "id": sid,
        "dataset_title": title,
        "st_technology": "Visium",
        "organ": "Synthetic",
        "species": "Homo sapiens",
        "patient": patient,
        "tissue": "Synthetic",
        "disease_state": "Cancer",
        "preservation_method": "Synthetic",
        "inter_spot_dist": SPOT_SPACING_PX * UM_PER_PX,
        "spot_diameter": SPOT_DIAMETER_UM,
        "pixel_size_um_estimated": UM_PER_PX,
        "pixel_size_um_embedded": UM_PER_PX,
        "magnification": "20x",
        "spots_under_tissue": slide.n_spots,
        "nb_genes": n_genes,
        "fullres_px_width": slide.width,
        "fullres_px_height": slide.height,
    }
