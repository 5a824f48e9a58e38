"""Files of a synthetic slide in the HEST-1k layout: counts h5ad, patch file, metadata row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from stbench.data.hest_layout import write_counts_h5ad, write_patch_file
from stbench.data.synthetic.scale import PATCH_SIZE, SPOT_DIAMETER_UM, SPOT_SPACING_PX, UM_PER_PX
from stbench.data.synthetic.slide import SyntheticSlide


def write_slide_h5ad(path: Path, slide: SyntheticSlide) -> None:
    """A synthetic slide's ``st/{id}.h5ad`` (:func:`stbench.data.hest_layout.write_counts_h5ad`)."""
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
    )
    write_counts_h5ad(
        path, sp.csr_matrix(slide.counts), slide.barcodes, slide.gene_names, slide.centre.astype(np.float64), obs=obs
    )


def write_slide_patches(path: Path, sid: str, slide: SyntheticSlide) -> None:
    """A synthetic slide's ``patches/{id}.h5`` (:func:`stbench.data.hest_layout.write_patch_file`)."""
    rows = slide.patch_rows
    write_patch_file(
        path, slide.barcodes[rows], (slide.centre[rows] - PATCH_SIZE // 2).astype(np.int64), slide.patches,
        img_attrs={"pixel_size_um": UM_PER_PX},
        coords_attrs={"patch_size": PATCH_SIZE, "patch_size_src": PATCH_SIZE, "level": 0, "name": sid,
                      "corner": "top-left (x, y)"},
        track_times=False,
    )


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
