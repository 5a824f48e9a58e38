"""``stbench data import --format st``: legacy Spatial Transcriptomics tables, tiny ones made here and the
real stutility-mob sections."""

from __future__ import annotations

import gzip
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from stbench.cli import main
from stbench.data.importers import import_sections, section_infos
from stbench.data.prepare import prepare_and_load
from tests.test_import_visium import _error

PX_PER_PITCH = 40.0  # 200 um between neighbouring ST spots = 40 px, so 5 um per pixel
GENES = ["Gapdh", "Actb", "Snap25", "Mbp", "Plp1"]


def real_mob_dir() -> Path:
    """``shared/data/real/stutility-mob`` beside the checkout (a parent of this file); skip if absent."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "data" / "real" / "stutility-mob"
        if candidate.is_dir():
            return candidate
    pytest.skip("shared/data/real/stutility-mob is not beside this checkout")


def write_legacy_st(folder: Path, name: str, *, seed: int = 0, genes_by_spots: bool = False) -> dict:
    """``{name}.tsv.gz`` (counts), ``alignment_table_{name}.tsv`` and ``{name}.jpg`` in ``folder``.

    The array is 8 x 6 positions; about two thirds are selected (under tissue). The count table
    holds every position with counts, the alignment table every position. Returns the selected
    positions (``<x>x<y>``), their counts (spots x GENES) and pixel centres (x, y).
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    xs, ys = np.meshgrid(np.arange(1, 9), np.arange(1, 7), indexing="ij")
    xs, ys = xs.ravel(), ys.ravel()
    pixel_x = 30 + (xs - 1) * PX_PER_PITCH + rng.normal(0, 0.3, xs.size)
    pixel_y = 30 + (ys - 1) * PX_PER_PITCH + rng.normal(0, 0.3, xs.size)
    selected = (rng.uniform(size=xs.size) < 0.67).astype(int)
    pd.DataFrame(
        {"x": xs, "y": ys, "new_x": xs + 0.01, "new_y": ys - 0.02, "pixel_x": pixel_x, "pixel_y": pixel_y,
         "selected": selected}  # fmt: skip
    ).to_csv(folder / f"alignment_table_{name}.tsv", sep="\t", index=False)
    positions = [f"{x}x{y}" for x, y in zip(xs, ys)]
    counts = rng.poisson(2.0, (xs.size, len(GENES)))
    counts[:, 0] += 1
    table = pd.DataFrame(counts, index=positions, columns=GENES)
    table = table.sample(frac=1.0, random_state=seed)  # row order unrelated to the alignment table
    if genes_by_spots:
        table = table.T
    with gzip.open(folder / f"{name}.tsv.gz", "wt") as fh:
        table.to_csv(fh, sep="\t")
    y, x = np.mgrid[0:300, 0:360]
    rgb = np.stack([x // 2, y // 2, np.full_like(x, 60)], axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(folder / f"{name}.jpg", quality=100)
    keep = selected == 1
    return {
        "positions": np.array(positions)[keep],
        "counts": counts[keep],
        "centres": np.stack([pixel_x, pixel_y], axis=1)[keep],
    }


@pytest.mark.parametrize("genes_by_spots", [False, True], ids=["spots_x_genes", "genes_x_spots"])
def test_st_section_becomes_hest_layout(tmp_path: Path, genes_by_spots: bool) -> None:
    truth = write_legacy_st(tmp_path / "raw", "SEC1", genes_by_spots=genes_by_spots)
    out = tmp_path / "cohort"
    import_sections("st", section_infos([tmp_path / "raw" / "SEC1.tsv.gz"]), out, species="Mus musculus")

    meta = pd.read_csv(out / "metadata.csv", dtype=str, keep_default_na=False)
    assert meta[["id", "st_technology", "patient"]].values.tolist() == [["SEC1", "Spatial Transcriptomics", ""]]
    assert float(meta["pixel_size_um_estimated"][0]) == pytest.approx(200.0 / PX_PER_PITCH, rel=0.01)
    adata = ad.read_h5ad(out / "st" / "SEC1.h5ad")
    assert list(adata.var_names) == GENES
    order = {p: i for i, p in enumerate(truth["positions"])}
    assert sorted(order) == sorted(adata.obs_names)  # exactly the selected spots
    rows = [order[p] for p in adata.obs_names]
    np.testing.assert_array_equal(adata.X.toarray(), truth["counts"][rows])
    np.testing.assert_allclose(adata.obsm["spatial"], truth["centres"][rows])
    with h5py.File(out / "patches" / "SEC1.h5", "r") as f:
        side = f["coords"].attrs["patch_size_level0"]
        assert side == pytest.approx(112.0 / (200.0 / PX_PER_PITCH), rel=0.01)
        barcodes = [b.decode() for b in f["barcode"][:, 0]]
        img = f["img"][()]
    assert barcodes == list(adata.obs_names)
    for k, barcode in enumerate(barcodes):
        x, y = truth["centres"][order[barcode]]
        assert abs(int(img[k, 112, 112, 0]) - x / 2) <= 2 and abs(int(img[k, 112, 112, 1]) - y / 2) <= 2


def test_st_options_name_files_and_errors(tmp_path: Path, capsys) -> None:
    write_legacy_st(tmp_path / "raw", "A", seed=1)
    counts = tmp_path / "raw" / "A.tsv.gz"
    out = tmp_path / "out"
    base = ["data", "import", "--format", "st", str(counts), "--out", str(out)]
    (tmp_path / "raw" / "alignment_table_A.tsv").rename(tmp_path / "spots.tsv")
    assert "expected one spot alignment table" in _error(capsys, base)
    (tmp_path / "raw" / "A.jpg").rename(tmp_path / "he.jpg")
    argv = [*base, "--spots", str(tmp_path / "spots.tsv"), "--section", "S1", "--patient", "M1"]
    assert "no full-resolution image" in _error(capsys, argv)
    assert main([*argv, "--image", str(tmp_path / "he.jpg"), "--pixel-size-um", "2.5"]) == 0
    meta = pd.read_csv(out / "metadata.csv", dtype=str, keep_default_na=False)
    assert meta[["id", "patient", "pixel_size_um_estimated"]].values.tolist() == [["S1", "M1", "2.5"]]

    spots = pd.read_csv(tmp_path / "spots.tsv", sep="\t")
    spots.drop(columns=["pixel_y"]).to_csv(tmp_path / "spots.tsv", sep="\t", index=False)
    assert "lacks the column(s) pixel_y" in _error(capsys, [*argv, "--image", str(tmp_path / "he.jpg")])
    spots.to_csv(tmp_path / "spots.tsv", sep="\t", index=False)
    (tmp_path / "bad.tsv").write_text("\tGapdh\nspotA\t1\n")
    assert "not a legacy ST count table" in _error(
        capsys, ["data", "import", "--format", "st", str(tmp_path / "bad.tsv"), "--spots", str(tmp_path / "spots.tsv"),
                 "--image", str(tmp_path / "he.jpg"), "--out", str(out)]  # fmt: skip
    )
    assert "does not exist" in _error(capsys, ["data", "import", "--format", "st", "nope.tsv", "--out", str(out)])


@pytest.mark.slow
def test_real_stutility_sections_convert(tmp_path: Path) -> None:
    """The four real MOB sections: exactly the selected spots' counts (joined here with pandas), the
    README's spot counts and pixel size."""
    src = real_mob_dir()
    out = tmp_path / "mob"
    import_sections("st", section_infos(sorted(src.glob("MOB*.tsv.gz"))), out, organ="Olfactory bulb")
    spots_under_tissue = {"MOB1": 379, "MOB2": 407, "MOB3": 438, "MOB4": 403}  # the README's table
    meta = pd.read_csv(out / "metadata.csv").set_index("id")
    assert sorted(meta.index) == sorted(spots_under_tissue)
    for sid, n_spots in spots_under_tissue.items():
        table = pd.read_csv(src / f"{sid}.tsv.gz", sep="\t", index_col=0)
        align = pd.read_csv(src / f"alignment_table_{sid}.tsv", sep="\t")
        under = align[align["selected"] == 1]
        selected = {f"{x}x{y}" for x, y in zip(under["x"], under["y"], strict=True)}
        adata = ad.read_h5ad(out / "st" / f"{sid}.h5ad")
        assert adata.shape == (n_spots, 1000) and set(adata.obs_names) == selected
        expected = table.loc[list(adata.obs_names), list(adata.var_names)].to_numpy()
        np.testing.assert_array_equal(adata.X.toarray(), expected)
        assert meta.loc[sid, "pixel_size_um_estimated"] == pytest.approx(6.3, abs=0.05)  # README: ~31.7 px per 200 um
    cohort = prepare_and_load(str(out), tmp_path / "root")
    assert [s.n_spots for s in cohort.slides] == [spots_under_tissue[s.id] for s in cohort.slides]
    assert all(s.patient is None for s in cohort.slides)  # two animals: each section is its own group
