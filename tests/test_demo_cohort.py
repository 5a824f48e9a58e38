"""The built-in demo cohort: HEST-1k layout, determinism, learnability, gene-set quirks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from stbench.data import demo
from stbench.data.synthetic import scale
from stbench.data.synthetic.genes import DOMAINS

N_SLIDES = 8  # enough for a 6-slide train / 2-slide test split; slide i doesn't depend on this


@dataclass
class LoadedSlide:
    id: str
    adata: ad.AnnData
    img: np.ndarray  # uint8 (M, 224, 224, 3), patch-file order
    barcode: np.ndarray  # |S (M, 1)
    coords: np.ndarray  # int (M, 2), top-left (x, y)


def _load(root: Path, sid: str) -> LoadedSlide:
    adata = ad.read_h5ad(root / "st" / f"{sid}.h5ad")
    with h5py.File(root / "patches" / f"{sid}.h5", "r") as f:
        return LoadedSlide(sid, adata, f["img"][:], f["barcode"][:], f["coords"][:])


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo.generate_demo(tmp_path_factory.mktemp("demo") / "cohort", seed=0, n_slides=N_SLIDES)


@pytest.fixture(scope="module")
def slides(cohort: Path) -> list[LoadedSlide]:
    ids = pd.read_csv(cohort / "metadata.csv")["id"]
    return [_load(cohort, sid) for sid in ids]


@pytest.fixture(scope="module")
def features(slides: list[LoadedSlide]) -> list[np.ndarray]:
    """Per slide, the simple image features of its patches, (M, 5) in patch-file order."""
    return [_simple_features(s.img) for s in slides]


# ---------------------------------------------------------------------------------------
# Layout


def test_metadata_and_files(cohort: Path) -> None:
    meta = pd.read_csv(cohort / "metadata.csv")
    for column in ("id", "st_technology", "organ", "species", "patient", "inter_spot_dist", "spot_diameter",
                   "pixel_size_um_estimated"):
        assert column in meta.columns
    assert list(meta["id"]) == [f"DEMO{i:02d}" for i in range(N_SLIDES)]
    assert set(meta["st_technology"]) == {"Visium"}
    assert set(meta["organ"]) == {"Synthetic"}
    assert set(meta["species"]) == {"Homo sapiens"}
    assert meta.groupby("patient").size().tolist() == [2] * (N_SLIDES // 2)
    for sid in meta["id"]:
        assert (cohort / "st" / f"{sid}.h5ad").is_file()
        assert (cohort / "patches" / f"{sid}.h5").is_file()
    info = json.loads((cohort / "demo_info.json").read_text())
    assert info["demo_version"] == demo.DEMO_VERSION
    assert list(info["markers"]) == list(DOMAINS)


def test_h5ad_holds_raw_counts_and_spot_positions(slides: list[LoadedSlide]) -> None:
    for s in slides:
        a = s.adata
        assert sp.issparse(a.X) and a.X.format == "csr"
        x = a.X.data
        assert np.all(x >= 0) and np.all(x == np.round(x))
        assert 250 <= a.n_obs <= 400
        assert a.obs_names.is_unique and a.var_names.is_unique
        assert (a.obs["in_tissue"] == 1).all()
        for column in ("array_row", "array_col", "pxl_row_in_fullres", "pxl_col_in_fullres"):
            assert np.issubdtype(a.obs[column].dtype, np.integer)
        spatial = a.obsm["spatial"]
        assert spatial.shape == (a.n_obs, 2) and np.issubdtype(spatial.dtype, np.floating)
        np.testing.assert_array_equal(spatial[:, 0], a.obs["pxl_col_in_fullres"])
        np.testing.assert_array_equal(spatial[:, 1], a.obs["pxl_row_in_fullres"])
        # Visium-like hex grid: array_col has the parity of array_row; 150 px between neighbours.
        assert ((a.obs["array_col"] - a.obs["array_row"]) % 2 == 0).all()
        from scipy.spatial import cKDTree

        d, _ = cKDTree(spatial).query(spatial, k=2)
        assert np.median(d[:, 1]) == pytest.approx(scale.SPOT_SPACING_PX, abs=1.0)
        lib = np.asarray(a.X.sum(axis=1)).ravel()
        assert lib.min() > 0 and lib.std() / lib.mean() > 0.2  # library sizes vary
        assert 0.2 < (a.X.toarray() == 0).mean() < 0.9  # sparse, but not empty


def test_patches_file_shapes_and_join(slides: list[LoadedSlide]) -> None:
    half = scale.PATCH_SIZE // 2
    for s in slides:
        m = len(s.img)
        assert s.img.dtype == np.uint8 and s.img.shape == (m, 224, 224, 3)
        assert s.barcode.shape == (m, 1) and s.barcode.dtype.kind == "S"
        assert s.coords.shape == (m, 2) and np.issubdtype(s.coords.dtype, np.integer)
        barcodes = s.barcode[:, 0].astype(str)
        pos = s.adata.obs_names.get_indexer(barcodes)
        assert (pos >= 0).all(), "every patch barcode is a spot of the h5ad"
        assert len(set(barcodes)) == m
        coverage = m / s.adata.n_obs
        assert 0.95 <= coverage < 1.0, "1-3% of spots have no patch"
        assert not np.array_equal(pos, np.sort(pos)), "patch rows are not in h5ad order"
        # coords are the top-left corner: + 112 gives the spot centre.
        np.testing.assert_array_equal(s.coords + half, s.adata.obsm["spatial"][pos])
        assert s.img.std() > 20  # not blank


def test_patch_morphology_differs_between_spots(features: list[np.ndarray]) -> None:
    x = np.concatenate(features)
    dark, white = x[:, 3], x[:, 4]
    assert np.quantile(dark, 0.9) - np.quantile(dark, 0.1) > 0.1  # nuclei-rich vs sparse
    assert np.quantile(white, 0.9) - np.quantile(white, 0.1) > 0.2  # fat / glands vs cellular
    # per-slide stain differences: the mean colour of the patches differs between slides
    means = np.array([f[:, :3].mean(axis=0) * 255 for f in features])
    assert means.std(axis=0).max() > 2.0


def test_gene_sets_differ_across_slides(slides: list[LoadedSlide], cohort: Path) -> None:
    sets = [set(s.adata.var_names) for s in slides]
    common = set.intersection(*sets)
    union = set.union(*sets)
    assert len(common) < len(union)
    assert len(union) >= 1000 and len(common) >= 800  # each slide lacks 0-20 genes
    assert len({frozenset(g) for g in sets}) == len(sets)  # every slide has its own gene set
    info = json.loads((cohort / "demo_info.json").read_text())
    for genes in info["markers"].values():
        assert set(genes) <= common  # markers are never among the genes a slide lacks
    assert {"EPCAM", "PTPRC", "COL1A1", "ADIPOQ", "MKI67"} <= common


# ---------------------------------------------------------------------------------------
# Determinism


def _arrays(root: Path, sid: str) -> dict[str, np.ndarray]:
    s = _load(root, sid)
    return {
        "X": s.adata.X.toarray(),
        "obs": s.adata.obs.to_numpy(),
        "obs_names": np.asarray(s.adata.obs_names),
        "var_names": np.asarray(s.adata.var_names),
        "spatial": s.adata.obsm["spatial"],
        "img": s.img,
        "barcode": s.barcode,
        "coords": s.coords,
    }


def test_same_seed_gives_identical_arrays(cohort: Path, tmp_path: Path) -> None:
    again = demo.generate_demo(tmp_path / "again", seed=0, n_slides=2)  # a prefix of the cohort
    for sid in ("DEMO00", "DEMO01"):
        a, b = _arrays(cohort, sid), _arrays(again, sid)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{sid} {key}")
        assert (cohort / "patches" / f"{sid}.h5").read_bytes() == (again / "patches" / f"{sid}.h5").read_bytes()
    meta_a = pd.read_csv(cohort / "metadata.csv").iloc[:2]
    pd.testing.assert_frame_equal(meta_a, pd.read_csv(again / "metadata.csv"))


def test_other_seed_differs(cohort: Path, tmp_path: Path) -> None:
    other = demo.generate_demo(tmp_path / "other", seed=1, n_slides=1)
    a, b = _arrays(cohort, "DEMO00"), _arrays(other, "DEMO00")
    assert a["X"].shape != b["X"].shape or not np.array_equal(a["X"], b["X"])
    assert a["img"].shape != b["img"].shape or not np.array_equal(a["img"], b["img"])


def test_invalid_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        demo.generate_demo(tmp_path, n_slides=0)
    with pytest.raises(ValueError):
        demo.generate_demo(tmp_path, genes=10)


# ---------------------------------------------------------------------------------------
# Learnability: image -> expression works across slides


def _simple_features(img: np.ndarray) -> np.ndarray:
    """(M, 5) float64: mean R, G, B / 255, dark-pixel fraction (grey < 120), near-white fraction (grey > 225)."""
    out = []
    for start in range(0, len(img), 64):
        chunk = img[start : start + 64]
        grey3 = chunk.sum(axis=3, dtype=np.uint16)  # 3 x grey
        rgb = chunk.reshape(len(chunk), -1, 3).sum(axis=1, dtype=np.uint32) / (224 * 224 * 255.0)
        out.append(np.column_stack([rgb, (grey3 < 360).mean(axis=(1, 2)), (grey3 > 675).mean(axis=(1, 2))]))
    return np.concatenate(out)


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    return (a * b).sum(axis=0) / np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0) + 1e-12)


def test_simple_image_features_predict_marker_genes(
    slides: list[LoadedSlide], features: list[np.ndarray], cohort: Path
) -> None:
    from sklearn.linear_model import Ridge

    info = json.loads((cohort / "demo_info.json").read_text())
    markers = [g for genes in info["markers"].values() for g in genes]
    feats, expr, slide_of = [], [], []
    for i, s in enumerate(slides):
        pos = s.adata.obs_names.get_indexer(s.barcode[:, 0].astype(str))  # join by barcode
        counts = s.adata[pos, markers].X.toarray()
        total = np.asarray(s.adata.X[pos].sum(axis=1))
        expr.append(np.log1p(counts / total * 1e4))
        feats.append(features[i])
        slide_of.append(np.full(len(pos), i))
    x, y, slide_of = np.concatenate(feats), np.concatenate(expr), np.concatenate(slide_of)
    test = slide_of >= N_SLIDES - 2  # held-out patient
    model = Ridge(alpha=1e-2).fit(x[~test], y[~test])
    r = _pearson(model.predict(x[test]), y[test])
    assert np.nanmean(r) > 0.25, f"mean marker Pearson {np.nanmean(r):.3f}"

    shuffled = x[np.random.default_rng(0).permutation(len(x))]
    model = Ridge(alpha=1e-2).fit(shuffled[~test], y[~test])
    r_shuffled = _pearson(model.predict(shuffled[test]), y[test])
    assert abs(np.nanmean(r_shuffled)) < 0.05


# ---------------------------------------------------------------------------------------
# ensure_demo: cached, atomic


def test_ensure_demo_generates_once_and_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_generate(out_dir: Path, *, seed: int = 0, **_: object) -> Path:
        calls.append(Path(out_dir))
        (Path(out_dir) / "metadata.csv").write_text("id\n")
        return Path(out_dir)

    monkeypatch.setattr(demo, "generate_demo", fake_generate)
    path = demo.ensure_demo(tmp_path, seed=3)
    assert path == tmp_path / "demo" / f"v{demo.DEMO_VERSION}-s3"
    assert (path / "COMPLETE").is_file() and (path / "metadata.csv").is_file()
    assert calls and calls[0] != path  # written elsewhere, then renamed into place
    assert demo.ensure_demo(tmp_path, seed=3) == path
    assert len(calls) == 1  # reused
    assert [p.name for p in (tmp_path / "demo").iterdir()] == [path.name]  # no temp dirs left


def test_ensure_demo_replaces_incomplete_and_survives_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    final = demo.demo_dir(tmp_path, seed=0)
    final.mkdir(parents=True)
    (final / "metadata.csv").write_text("half-written")

    def failing(out_dir: Path, **_: object) -> Path:
        (Path(out_dir) / "partial").write_text("x")
        raise RuntimeError("disk full")

    monkeypatch.setattr(demo, "generate_demo", failing)
    with pytest.raises(RuntimeError):
        demo.ensure_demo(tmp_path)
    assert not (final / "COMPLETE").exists()
    assert [p.name for p in (tmp_path / "demo").iterdir()] == [final.name]  # temp dir removed

    def ok(out_dir: Path, **_: object) -> Path:
        (Path(out_dir) / "metadata.csv").write_text("id\n")
        return Path(out_dir)

    monkeypatch.setattr(demo, "generate_demo", ok)
    assert demo.ensure_demo(tmp_path) == final
    assert (final / "COMPLETE").is_file() and (final / "metadata.csv").read_text() == "id\n"
