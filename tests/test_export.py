"""stbench export: one fold in standard formats (AnnData, HEST patches, fold.json)."""

import json

import anndata
import h5py
import numpy as np
import pytest

from stbench.cli import main
from stbench.data.hest import read_patch_index
from stbench.data.folds import load_fold
from stbench.protocol.splits import load_split

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    assert main(["data", "prepare", "--cohort", "demo"]) == 0  # export reads a prepared cohort, never prepares one
    out = tmp_path_factory.mktemp("export") / "fold1"
    assert main(["export", "--cohort", "demo", "--fold", "1", "--out", str(out)]) == 0
    return out, load_fold("demo", 1)


def test_fold_json_and_layout(exported):
    out, fold = exported
    doc = json.loads((out / "fold.json").read_text())
    split = load_split("demo")
    assert (doc["cohort"], doc["fold"]) == ("demo", 1)
    assert doc["split_sha256"] == split.sha256 and doc["panel_sha256"] == fold.cohort.panel_sha256
    assert doc["test_slides"] == list(split.fold(1).test) and doc["train_slides"] == fold.train
    for part in ("train", "val", "test"):
        assert sorted(p.stem for p in (out / part).glob("*.h5ad")) == sorted(doc[f"{part}_slides"])
    every = doc["train_slides"] + doc["val_slides"] + doc["test_slides"]
    assert sorted(p.stem for p in (out / "patches").glob("*.h5")) == sorted(every)
    assert (out / "genes.txt").read_text().splitlines() == list(fold.cohort.genes)
    assert "stbench score --cohort demo --fold 1" in (out / "README.md").read_text()


def test_train_h5ad_holds_log1p_counts_and_coordinates(exported):
    out, fold = exported
    sid = fold.train[0]
    slide = next(s for s in fold.cohort.slides if s.id == sid)
    adata = anndata.read_h5ad(out / "train" / f"{sid}.h5ad")
    assert list(adata.var_names) == list(fold.cohort.genes)
    assert list(adata.obs_names) == list(slide.barcodes)
    assert adata.X.dtype == np.float32
    np.testing.assert_array_equal(adata.X, slide.expression())
    np.testing.assert_allclose(adata.obsm["spatial"], slide.coords)
    counts = adata.layers["counts"].toarray()
    assert (counts == np.round(counts)).all() and (counts >= 0).all()
    assert ((counts > 0) == (adata.X > 0)).all()
    # X = log1p(count / spot_total * 1e4): expm1(X) / count is one constant per spot
    ratio = np.where(counts > 0, np.expm1(adata.X.astype(np.float64)) / np.maximum(counts, 1), np.nan)
    spread = np.nanmax(ratio, axis=1) / np.nanmin(ratio, axis=1)
    assert np.nanmax(spread) < 1 + 1e-4


def test_test_h5ad_hides_expression(exported):
    out, fold = exported
    sid = fold.test[0]
    adata = anndata.read_h5ad(out / "test" / f"{sid}.h5ad")
    assert adata.X.nnz == 0 and "counts" not in adata.layers
    assert adata.shape == (next(s for s in fold.cohort.slides if s.id == sid).n_spots, len(fold.cohort.genes))


def test_patches_in_hest_format_in_spot_order(exported):
    out, fold = exported
    slide = next(s for s in fold.cohort.slides if s.id == fold.val[0])
    path = out / "patches" / f"{slide.id}.h5"
    index = read_patch_index(path, slide.id)  # stbench's own HEST reader accepts it
    assert list(index.barcodes) == list(slide.barcodes)
    with h5py.File(path) as f:
        assert f["img"].shape == (slide.n_spots, 224, 224, 3) and f["img"].dtype == np.uint8
        assert f["barcode"].shape == (slide.n_spots, 1)
        np.testing.assert_array_equal(f["img"][:5], slide.patches(np.arange(5)))
    centres = index.top_left + index.extent / 2
    assert np.abs(centres - slide.coords).max() <= 1.0


def test_refuses_a_non_empty_folder(exported, capsys):
    out, _ = exported
    assert main(["export", "--cohort", "demo", "--fold", "1", "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
