"""The ``demo-sparse`` cohort has the statistics of real ST data, read back from its generated files."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest

from stbench.protocol.cohorts import COHORTS
from stbench.data.builtin import ensure_builtin
from stbench.data.demo_sparse import generate_demo_sparse
from stbench.protocol.splitgen import split_document
from stbench.protocol.splits import load_split


@pytest.fixture(scope="module")
def cohort(data_root: Path) -> dict:
    """The generated cohort: its folder, metadata and every slide's raw counts (csr, spots x genes)."""
    folder = ensure_builtin("demo-sparse", data_root)
    meta = pd.read_csv(folder / "metadata.csv")
    slides = {sid: ad.read_h5ad(folder / "st" / f"{sid}.h5ad") for sid in meta["id"]}
    return {"folder": folder, "meta": meta, "slides": slides}


def test_layout_size_and_frozen_split(cohort: dict) -> None:
    meta, folder = cohort["meta"], cohort["folder"]
    assert len(meta) == 10 and meta["patient"].nunique() == 5
    for sid in meta["id"]:
        with h5py.File(folder / "patches" / f"{sid}.h5", "r") as f:
            assert f["img"].shape[1:] == (224, 224, 3) and f["img"].dtype == np.uint8
            assert f["barcode"].shape[0] == f["coords"].shape[0] == f["img"].shape[0]
    n_spots = [a.n_obs for a in cohort["slides"].values()]
    assert 180 <= min(n_spots) and max(n_spots) <= 280
    split = load_split("demo-sparse")
    assert sorted(split.slides) == sorted(meta["id"])
    assert {split.groups[s] for s in meta["id"]} == {f"patient:{p}" for p in meta["patient"]}
    assert split_document(COHORTS["demo-sparse"], None, folder.parents[1]) == split.document  # rebuilt exactly


def test_counts_have_the_statistics_of_real_st_data(cohort: dict) -> None:
    slides = cohort["slides"]
    genes = [set(a.var_names) for a in slides.values()]
    assert len(set.intersection(*genes)) >= 10_000  # the panel: at least 10,000 genes on every slide

    library, detected_median, detected_any = [], [], None
    for a in slides.values():
        x = a.X.tocsr()
        assert np.all(x.data == np.floor(x.data)) and x.data.min() > 0  # raw integer counts
        library.append(np.asarray(x.sum(axis=1)).ravel())
        detected_median.append(np.median(np.diff(x.indptr)))
        hit = np.asarray((x > 0).sum(axis=0)).ravel()
        detected_any = hit if detected_any is None else detected_any + hit
    library = np.concatenate(library)
    # Library sizes from ~500 to ~10,000 UMIs per spot.
    assert 300 <= np.percentile(library, 2.5) <= 1_000
    assert 7_000 <= np.percentile(library, 97.5) <= 20_000
    # Median detected genes per spot from ~500 to ~4,000 across slides.
    assert 350 <= min(detected_median) <= 800
    assert 2_500 <= max(detected_median) <= 5_000
    # Most genes are rarely detected: in under 10% of the spots.
    assert np.mean(detected_any / len(library) < 0.10) >= 0.5


def _log_norm(x) -> np.ndarray:
    x = np.asarray(x.todense(), dtype=np.float64)
    return np.log1p(x / x.sum(axis=1, keepdims=True) * 1e4)


def test_batch_effects_by_patient_and_slide(cohort: dict) -> None:
    meta, slides = cohort["meta"], cohort["slides"]
    depth = {sid: np.median(np.asarray(a.X.sum(axis=1)).ravel()) for sid, a in slides.items()}
    assert max(depth.values()) / min(depth.values()) > 5  # slide depth differs (a slide batch effect)
    # Pseudo-bulk: each slide's gene shares of its total counts, on genes with >= 100 counts on every slide.
    bulk = {sid: np.asarray(a.X.sum(axis=0)).ravel() for sid, a in slides.items()}
    expressed = (np.stack(list(bulk.values())) >= 100).all(axis=0)
    assert expressed.sum() >= 50
    log_share = {sid: np.log(b[expressed] / b.sum()) for sid, b in bulk.items()}
    patient = dict(zip(meta["id"], meta["patient"]))
    same, other = [], []
    ids = list(log_share)
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            diff = log_share[a] - log_share[b]
            (same if patient[a] == patient[b] else other).append(np.abs(diff - np.median(diff)).mean())
    assert np.mean(same) < 0.8 * np.mean(other)  # slides of one patient resemble each other


def _image_features(path: Path, barcodes: np.ndarray) -> np.ndarray:
    """Colour statistics of each spot's patch, in the h5ad's order: (n, 9)."""
    with h5py.File(path, "r") as f:
        img = f["img"][:, ::4, ::4].astype(np.float32) / 255.0
        order = {b.decode(): i for i, b in enumerate(f["barcode"][:, 0])}
    rows = np.array([order.get(b, -1) for b in barcodes])
    img = img[np.maximum(rows, 0)]
    grey = img.mean(axis=-1)
    feats = [img.mean(axis=(1, 2)), img.std(axis=(1, 2)), (grey < 0.45).mean(axis=(1, 2))[:, None]]
    feats += [(grey > 0.85).mean(axis=(1, 2))[:, None], (img[..., 0] - img[..., 2]).mean(axis=(1, 2))[:, None]]
    out = np.concatenate(feats, axis=1)
    out[rows < 0] = np.nan
    return out


@pytest.mark.slow
def test_image_signal_is_strong_for_a_few_programs_weak_for_most_genes(cohort: dict) -> None:
    """A linear model on patch colour statistics, fitted on 6 slides, predicts the marker and visible-program
    genes on 4 others far better than it predicts the other genes, and the invisible interferon program
    hardly at all. Features and expression are centred per slide (stain and depth are slide batch effects)."""
    import json

    folder, meta, slides = cohort["folder"], cohort["meta"], cohort["slides"]
    info = json.loads((folder / "demo_info.json").read_text())
    genes = list(next(iter(slides.values())).var_names)
    position = {g: i for i, g in enumerate(genes)}
    programs = {**info["markers"], **info["programs"]}
    strong = sorted({g for m in info["markers"].values() for g in m} | set(info["programs"]["ecm"]))
    in_programs = {g for p in programs.values() for g in p}
    rng = np.random.default_rng(0)
    others = sorted(set(rng.choice(genes, 600, replace=False)) - in_programs)
    feats, expr, is_train = [], [], []
    for k, sid in enumerate(meta["id"]):
        a = slides[sid]
        f = _image_features(folder / "patches" / f"{sid}.h5", np.asarray(a.obs_names))
        ok = np.isfinite(f).all(axis=1)
        feats.append((f[ok] - f[ok].mean(0)) / (f[ok].std(0) + 1e-9))
        y = _log_norm(a.X)[ok]
        expr.append(y - y.mean(0))
        is_train.append(np.full(ok.sum(), k < 6))
    f, y, train = np.concatenate(feats), np.concatenate(expr), np.concatenate(is_train)
    design = np.column_stack([np.ones(len(f)), f])

    def test_r(target: np.ndarray) -> np.ndarray:
        """Held-out Pearson r of the linear fit, per column of ``target`` (n_spots, k)."""
        coef, *_ = np.linalg.lstsq(design[train], target[train], rcond=None)
        pred, truth = design[~train] @ coef, target[~train]
        varies = (pred.std(axis=0) > 0) & (truth.std(axis=0) > 0)  # a constant column scores 0
        return np.array([np.corrcoef(pred[:, j], truth[:, j])[0, 1] if varies[j] else 0.0 for j in range(len(varies))])

    r_strong = np.median(test_r(y[:, [position[g] for g in strong]]))
    r_other = np.median(test_r(y[:, [position[g] for g in others]]))
    assert r_strong > 0.12 and r_other < 0.05 and r_strong > 4 * max(r_other, 0.01)
    scores = np.column_stack([y[:, [position[g] for g in programs[p]]].mean(axis=1) for p in programs])
    r_program = dict(zip(programs, test_r(scores)))
    visible = [r_program[p] for p in [*info["markers"], *info["programs_visible_in_image"]]]
    assert np.median(visible) > 0.4
    assert r_program["interferon"] < 0.5 * np.median(visible)


def test_generation_is_deterministic(tmp_path: Path) -> None:
    a = generate_demo_sparse(tmp_path / "a", n_slides=1)
    b = generate_demo_sparse(tmp_path / "b", n_slides=1)
    xa, xb = ad.read_h5ad(a / "st" / "SPARSE00.h5ad"), ad.read_h5ad(b / "st" / "SPARSE00.h5ad")
    assert (xa.X != xb.X).nnz == 0 and list(xa.obs_names) == list(xb.obs_names)
    assert (a / "patches" / "SPARSE00.h5").read_bytes() == (b / "patches" / "SPARSE00.h5").read_bytes()
