"""``stbench data import --format visium``: tiny Space Ranger outputs written here in 10x's on-disk format."""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from stbench.cli import main
from stbench.data import hest
from stbench.data.importers import import_sections, section_infos
from stbench.data.prepare import prepare_and_load

UM_PER_PX = 2.0  # the fixture image's pixel size; Visium pitch 100 um = 50 px
GENES = ["GAPDH", "ACTB", "KRT8", "CD3E", "PTPRC", "VIM", "COL1A1"]
ANTIBODIES = ["CD3_TotalSeqB"]


def _image(path: Path, size: int = 700) -> np.ndarray:
    """An RGB image whose red channel is x // 3 and green channel y // 3 (so a pixel says where it is)."""
    y, x = np.mgrid[0:size, 0:size]
    rgb = np.stack([x // 3, y // 3, np.full_like(x, 128)], axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(path)
    return rgb


def write_spaceranger(
    outs: Path, *, seed: int = 0, positions_list: bool = False, image_name: str | None = "tissue.tif"
) -> dict:
    """A Space Ranger ``outs/`` folder: filtered 10x h5, tissue positions, scale factors, full-res image.

    Returns what it wrote: the barcodes under tissue (matrix order), their counts (spots x GENES)
    and their centres (x, y) px.
    """
    rng = np.random.default_rng(seed)
    (outs / "spatial").mkdir(parents=True)
    rows, cols = np.meshgrid(np.arange(10), np.arange(0, 20, 2), indexing="ij")
    cols = cols + rows % 2  # Visium hex grid: odd rows shifted by one column
    pitch_px = 100.0 / UM_PER_PX
    x = 80 + cols.ravel() * pitch_px / 2
    y = 80 + rows.ravel() * pitch_px * np.sqrt(3) / 2
    n = x.size
    barcodes = np.array([f"{''.join(rng.choice(list('ACGT'), 16))}-1" for _ in range(n)])
    in_tissue = (rng.uniform(size=n) < 0.7).astype(int)
    positions = pd.DataFrame(
        {
            "barcode": barcodes,
            "in_tissue": in_tissue,
            "array_row": rows.ravel(),
            "array_col": cols.ravel(),
            "pxl_row_in_fullres": np.round(y).astype(int),
            "pxl_col_in_fullres": np.round(x).astype(int),
        }
    )
    if positions_list:
        positions.to_csv(outs / "spatial" / "tissue_positions_list.csv", header=False, index=False)
    else:
        positions.to_csv(outs / "spatial" / "tissue_positions.csv", index=False)
    (outs / "spatial" / "scalefactors_json.json").write_text(
        json.dumps(
            {
                "spot_diameter_fullres": 55.0 / UM_PER_PX,
                "tissue_hires_scalef": 0.5,
                "fiducial_diameter_fullres": 40.0,
                "tissue_lowres_scalef": 0.1,
            }
        )
    )
    # Filtered matrix: the in-tissue barcodes in a shuffled order, genes then one antibody feature.
    under = rng.permutation(np.flatnonzero(in_tissue))
    features = GENES + ANTIBODIES
    counts = rng.poisson(3.0, (len(under), len(features))) * (rng.uniform(size=(len(under), len(features))) < 0.6)
    counts[:, 0] += 1  # every spot has counts
    csc = np.asarray(counts.T)  # genes x barcodes, stored column (barcode) by column
    data, indices, indptr = [], [], [0]
    for j in range(csc.shape[1]):
        nz = np.flatnonzero(csc[:, j])
        data += csc[nz, j].tolist()
        indices += nz.tolist()
        indptr.append(len(data))
    with h5py.File(outs / "filtered_feature_bc_matrix.h5", "w") as f:
        m = f.create_group("matrix")
        m.create_dataset("barcodes", data=np.array([b.encode() for b in barcodes[under]], dtype="S18"))
        m.create_dataset("data", data=np.array(data, dtype=np.int32))
        m.create_dataset("indices", data=np.array(indices, dtype=np.int64))
        m.create_dataset("indptr", data=np.array(indptr, dtype=np.int64))
        m.create_dataset("shape", data=np.array([len(features), len(under)], dtype=np.int32))
        feat = m.create_group("features")
        feat.create_dataset("id", data=np.array([f"ENSG{i:011d}".encode() for i in range(len(features))]))
        feat.create_dataset("name", data=np.array([g.encode() for g in features]))
        kinds = ["Gene Expression"] * len(GENES) + ["Antibody Capture"] * len(ANTIBODIES)
        feat.create_dataset("feature_type", data=np.array([k.encode() for k in kinds]))
        feat.create_dataset("genome", data=np.array([b"GRCh38"] * len(features)))
        feat.create_dataset("_all_tag_keys", data=np.array([b"genome"]))
    image = _image(outs / image_name) if image_name else None
    centres = np.stack([x, y], axis=1)[under]
    return {
        "barcodes": barcodes[under],
        "counts": counts[:, : len(GENES)],
        "centres": np.round(centres),
        "image": image,
    }


@pytest.mark.parametrize("positions_list", [False, True], ids=["tissue_positions", "tissue_positions_list"])
def test_visium_section_becomes_hest_layout(tmp_path: Path, positions_list: bool) -> None:
    src = tmp_path / "sample1" / "outs"
    truth = write_spaceranger(src, positions_list=positions_list)
    out = tmp_path / "cohort"
    import_sections("visium", section_infos([tmp_path / "sample1"], patients=["P1"]), out, organ="Skin")

    meta = pd.read_csv(out / "metadata.csv", dtype=str, keep_default_na=False)
    assert meta[["id", "st_technology", "organ", "patient"]].values.tolist() == [["sample1", "Visium", "Skin", "P1"]]
    # From the 100 um pitch; integer pixel positions at a 50 px pitch leave up to 1% error.
    assert float(meta["pixel_size_um_estimated"][0]) == pytest.approx(UM_PER_PX, rel=0.01)
    assert float(meta["spot_diameter"][0]) == pytest.approx(55.0, rel=0.01)

    adata = ad.read_h5ad(out / "st" / "sample1.h5ad")
    assert list(adata.var_names) == GENES  # the antibody feature is not a gene
    order = {b: i for i, b in enumerate(truth["barcodes"])}
    rows = [order[b] for b in adata.obs_names]
    assert sorted(rows) == list(range(len(truth["barcodes"])))  # every spot under tissue, none else
    np.testing.assert_array_equal(adata.X.toarray(), truth["counts"][rows])
    np.testing.assert_allclose(adata.obsm["spatial"], truth["centres"][rows])

    with h5py.File(out / "patches" / "sample1.h5", "r") as f:
        side = f["coords"].attrs["patch_size_level0"]
        assert side == pytest.approx(112.0 / UM_PER_PX, rel=0.01)  # HEST's 112 um patch
        barcodes = [b.decode() for b in f["barcode"][:, 0]]
        coords, img = f["coords"][()], f["img"][()]
    assert img.shape == (len(barcodes), 224, 224, 3) and img.dtype == np.uint8
    for k, barcode in enumerate(barcodes):
        x, y = truth["centres"][order[barcode]]
        np.testing.assert_allclose(coords[k], [x - side / 2, y - side / 2], atol=1e-6)
        # The patch centre shows the image at the spot centre (red = x // 3, green = y // 3).
        assert abs(int(img[k, 112, 112, 0]) - x // 3) <= 1 and abs(int(img[k, 112, 112, 1]) - y // 3) <= 1

    cohort = prepare_and_load(str(out), tmp_path / "root")  # the HEST reader takes it as it is
    (slide,) = cohort.slides
    assert slide.n_spots == len(truth["barcodes"]) and slide.patient == "P1"
    assert [s.id for s in hest.read_slide_table(out)] == ["sample1"]


def test_sheet_names_sections_and_patients_and_given_pixel_size(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        write_spaceranger(tmp_path / name, seed=ord(name), image_name=None)
        _image(tmp_path / f"{name}_he.png")
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(
        "source,section,patient,image,pixel_size_um\n"
        "a,S-A,P1,a_he.png,\n"
        "b,S-B,P1,b_he.png,\n"
        "c,S-C,P2,c_he.png,4.0\n"
    )
    out = tmp_path / "cohort"
    assert main(["data", "import", "--format", "visium", "--sheet", str(sheet), "--out", str(out)]) == 0
    meta = pd.read_csv(out / "metadata.csv", dtype=str, keep_default_na=False).set_index("id")
    assert list(meta.index) == ["S-A", "S-B", "S-C"] and list(meta["patient"]) == ["P1", "P1", "P2"]
    assert float(meta.loc["S-C", "pixel_size_um_estimated"]) == 4.0  # given wins over the pitch
    with h5py.File(out / "patches" / "S-C.h5", "r") as f:
        assert f["coords"].attrs["patch_size_level0"] == pytest.approx(112.0 / 4.0)
    # Importing again adds to the folder: a section with the same id is replaced, not repeated.
    assert main(["data", "import", "--format", "visium", str(tmp_path / "a"), "--section", "S-A",
                 "--image", str(tmp_path / "a_he.png"), "--out", str(out)]) == 0  # fmt: skip
    meta = pd.read_csv(out / "metadata.csv", dtype=str, keep_default_na=False)
    assert sorted(meta["id"]) == ["S-A", "S-B", "S-C"]
    assert meta.set_index("id").loc["S-A", "patient"] == ""


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    last = err.splitlines()[-1]  # after what the progress bar left
    assert last.startswith("stbench: error: ") and err.count("stbench: error:") == 1
    return last


def test_missing_files_and_columns_are_one_sentence(tmp_path: Path, capsys) -> None:
    src = tmp_path / "s"
    write_spaceranger(src)
    base = ["data", "import", "--format", "visium", str(src), "--out", str(tmp_path / "out")]

    (src / "spatial" / "scalefactors_json.json").rename(tmp_path / "sf.json")
    assert "scale factors file" in _error(capsys, base)
    (tmp_path / "sf.json").rename(src / "spatial" / "scalefactors_json.json")

    positions = pd.read_csv(src / "spatial" / "tissue_positions.csv")
    positions.drop(columns=["pxl_row_in_fullres"]).to_csv(src / "spatial" / "tissue_positions.csv", index=False)
    assert "lacks the column(s) pxl_row_in_fullres" in _error(capsys, base)
    (src / "spatial" / "tissue_positions.csv").unlink()
    assert "tissue_positions_list.csv exists" in _error(capsys, base)
    positions.to_csv(src / "spatial" / "tissue_positions.csv", index=False)

    (src / "tissue.tif").unlink()
    assert "no full-resolution image" in _error(capsys, base)
    assert "--image was given 2 time(s) for 1 source(s)" in _error(capsys, [*base, "--image", "x", "--image", "y"])
    (src / "filtered_feature_bc_matrix.h5").unlink()
    assert "filtered_feature_bc_matrix.h5 does not exist" in _error(capsys, base)
    assert not (tmp_path / "out").exists()  # nothing is written when a section cannot be read
