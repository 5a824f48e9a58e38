"""Preparing HEST-layout cohorts: join by barcode, expression, panel, manifest, atomicity, bad input."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scanpy as sc

from stbench.data import prepare as prepare_module
from stbench.data import prepared_files
from stbench.data.panel import panel_sha256
from stbench.data.prepare import prepare_and_load, prepare_cohort
from stbench.data.prepared import load_prepared, local_name
from stbench.errors import StbenchError
from tests.fixtures_data import (
    expected_expression,
    make_hest_dir,
    write_h5ad,
    write_patch_file,
    write_split_file,
)


@pytest.fixture(scope="module")
def hest_cohort(tmp_path_factory):
    """A prepared 3-slide HEST-layout directory: (truths, prepared cohort, root)."""
    base = tmp_path_factory.mktemp("hest")
    truths = make_hest_dir(base / "cohort")
    root = base / "root"
    return truths, prepare_and_load(str(base / "cohort"), root), root


def test_prepared_directory_loads_as_spotdata(hest_cohort) -> None:
    truths, cohort, _ = hest_cohort
    assert cohort.name.startswith("local-") and len(cohort.name) == len("local-") + 12
    assert cohort.source == "local" and cohort.revision is None
    assert [s.id for s in cohort.slides] == list(truths)
    assert list(cohort.genes) == sorted(cohort.genes)
    assert cohort.panel_sha256 == panel_sha256(cohort.genes)
    data = cohort.spotdata()
    x = data.expression()
    assert x.shape == (data.n_spots, len(cohort.genes)) and x.dtype == np.float32
    assert np.isfinite(x).all() and x.min() >= 0
    assert data.coords().shape == (data.n_spots, 2) and data.coords().dtype == np.float32
    slide = data.slides[0]
    patches = slide.patches()
    assert patches.shape == (slide.n_spots, 224, 224, 3) and patches.dtype == np.uint8
    assert cohort.spotdata(["S2", "S0"]).slides[0].id == "S2"
    assert cohort.slide_metadata()["S1"] == {
        "technology": "Visium",
        "organ": "Breast",
        "patient": "P0",
        "species": "Homo sapiens",
    }
    with pytest.raises(StbenchError, match="no slide 'S9'"):
        cohort.spotdata(["S9"])


def test_expression_is_log1p_of_normalised_counts_on_the_panel(hest_cohort) -> None:
    truths, cohort, _ = hest_cohort
    panel = list(cohort.genes)
    for slide in cohort.slides:
        barcodes, genes, want = expected_expression(truths[slide.id])
        assert slide.barcodes.tolist() == barcodes
        got = slide.expression()
        for g in panel:
            column = got[:, panel.index(g)]
            if g in genes:
                np.testing.assert_allclose(column, want[:, genes.index(g)], rtol=1e-5, atol=1e-6)
            else:
                assert not column.any()  # a panel gene the slide lacks is 0
    # slide 1 stores "Gene007" and " gene007": summed before normalisation
    t1 = truths["S1"]
    kept = [t1.barcodes.index(b) for b in cohort.slides[1].barcodes]
    dup = t1.counts[kept][:, [t1.genes.index("Gene007"), t1.genes.index(" gene007")]].sum(axis=1)
    total = t1.counts[kept].sum(axis=1)
    np.testing.assert_allclose(
        cohort.slides[1].expression()[:, panel.index("GENE007")], np.log1p(dup / total * 1e4), rtol=1e-5
    )


def test_panel_matches_a_direct_computation(hest_cohort) -> None:
    truths, cohort, _ = hest_cohort
    gene_sets, tops = [], set()
    for truth in truths.values():
        _, genes, logx = expected_expression(truth)
        gene_sets.append(set(genes))
        adata = ad.AnnData(logx.astype(np.float32), var=pd.DataFrame(index=genes))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hvg = sc.pp.highly_variable_genes(adata, flavor="seurat", n_top_genes=100, inplace=False)
        tops |= set(hvg.index[hvg["highly_variable"]])
        means = logx.mean(axis=0)
        tops |= {genes[j] for j in sorted(range(len(genes)), key=lambda j: (-means[j], genes[j]))[:100]}
    assert list(cohort.genes) == sorted(set.intersection(*gene_sets) | tops)
    own = [g for g in set.union(*gene_sets) if g.startswith("X")]
    assert 0 < len([g for g in own if g in cohort.genes]) < len(own)  # the rule is not "all genes"


def test_patches_and_coords_are_joined_by_barcode(hest_cohort) -> None:
    truths, cohort, _ = hest_cohort
    for slide in cohort.slides:
        truth = truths[slide.id]
        rows = np.array([slide.n_spots - 1, 0, 3, 3])  # unsorted, repeated
        got = slide.patches(rows)
        for k, row in enumerate(rows):
            barcode = slide.barcodes[row]
            np.testing.assert_array_equal(got[k], truth.patch_of(barcode))
            np.testing.assert_allclose(slide.coords[row], truth.centres[truth.barcodes.index(barcode)])


def test_manifest_records_drops_harmonisation_and_hashes(hest_cohort) -> None:
    truths, cohort, root = hest_cohort
    path = cohort.path
    assert path == root / "prepared" / cohort.name
    m = json.loads((path / "manifest.json").read_text())
    assert m["schema_version"] == prepare_module.SCHEMA_VERSION
    assert m["normalisation"]["target_sum"] == 1e4 and m["normalisation"]["log1p"] is True
    assert m["panel_rule"]["n_top_hvg"] == 100 and "seurat" in m["panel_rule"]["hvg"]
    assert m["n_genes"] == len(cohort.genes) and m["panel_sha256"] == cohort.panel_sha256
    slides = {s["id"]: s for s in m["slides"]}
    assert slides["S0"]["dropped"] == {"zero_counts": 1} and slides["S0"]["n_spots"] == 29
    assert slides["S2"]["dropped"] == {"no_patch": 2} and slides["S2"]["n_unmatched_patches"] == 1
    assert slides["S1"]["n_merged_genes"] == 1
    assert m["gene_harmonisation"]["merged_columns"] == {"S1": 1}
    s0_genes = {g.strip().upper() for g in truths["S0"].genes}
    missing_on_s0 = len([g for g in cohort.genes if g not in s0_genes])
    assert missing_on_s0 > 0
    assert m["gene_harmonisation"]["panel_genes_filled_with_zero"]["S0"] == missing_on_s0
    assert all(s["n_spots_raw"] == 30 for s in m["slides"])
    assert m["n_spots"] == sum(s.n_spots for s in cohort.slides)
    assert m["dropped_slides"] == {}
    import hashlib

    for entry in m["slides"]:
        expr = (path / "expr" / f"{entry['id']}.npy").read_bytes()
        assert hashlib.sha256(expr).hexdigest() == entry["expr_sha256"]
    spellings = dict(line.split("\t") for line in (path / "gene_names.tsv").read_text().splitlines())
    assert spellings["GENE001"] == "Gene001"
    assert (path / "genes.txt").read_text().splitlines() == list(cohort.genes)
    assert not any(p.name.startswith(".") for p in (root / "prepared").iterdir())


def test_prepare_is_idempotent_and_notices_changed_inputs(tmp_path: Path) -> None:
    make_hest_dir(tmp_path / "c", n_slides=2)
    root = tmp_path / "root"
    first = prepare_cohort(str(tmp_path / "c"), root)
    stamp = (first / "manifest.json").stat().st_mtime_ns
    assert prepare_cohort(str(tmp_path / "c"), root) == first
    assert (first / "manifest.json").stat().st_mtime_ns == stamp  # reused, not rebuilt
    h5ad = tmp_path / "c" / "st" / "S0.h5ad"
    os.utime(h5ad, ns=(h5ad.stat().st_atime_ns, h5ad.stat().st_mtime_ns + 10**9))
    prepare_cohort(str(tmp_path / "c"), root)
    assert (first / "manifest.json").stat().st_mtime_ns != stamp  # input changed: rebuilt
    stamp = (first / "manifest.json").stat().st_mtime_ns
    prepare_cohort(str(tmp_path / "c"), root, force=True)
    assert (first / "manifest.json").stat().st_mtime_ns != stamp


def test_failure_mid_prepare_leaves_nothing_half_written(tmp_path: Path, monkeypatch) -> None:
    make_hest_dir(tmp_path / "c", n_slides=3)
    root = tmp_path / "root"
    real = prepared_files.write_expression
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(prepared_files, "write_expression", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        prepare_cohort(str(tmp_path / "c"), root)
    assert list((root / "prepared").iterdir()) == []
    # an existing prepared folder survives a failed --force
    monkeypatch.setattr(prepared_files, "write_expression", real)
    out = prepare_cohort(str(tmp_path / "c"), root)
    calls.clear()
    monkeypatch.setattr(prepared_files, "write_expression", failing)
    with pytest.raises(RuntimeError):
        prepare_cohort(str(tmp_path / "c"), root, force=True)
    assert [p.name for p in (root / "prepared").iterdir()] == [out.name]
    assert load_prepared(out).slides


def test_counts_from_layers_or_raw_when_x_is_normalised(tmp_path: Path) -> None:
    truths = make_hest_dir(tmp_path / "c", n_slides=2)
    t = truths["S0"]
    logx = np.log1p(t.counts / np.maximum(t.counts.sum(axis=1, keepdims=True), 1) * 1e4)
    write_h5ad(tmp_path / "c" / "st" / "S0.h5ad", t.barcodes, t.genes, logx, t.centres, layers={"counts": t.counts})
    t1 = truths["S1"]
    logx1 = np.log1p(t1.counts / t1.counts.sum(axis=1, keepdims=True) * 1e4)
    write_h5ad(tmp_path / "c" / "st" / "S1.h5ad", t1.barcodes, t1.genes, logx1, t1.centres, raw=(t1.genes, t1.counts))
    cohort = prepare_and_load(str(tmp_path / "c"), tmp_path / "root")
    for slide in cohort.slides:
        barcodes, genes, want = expected_expression(truths[slide.id])
        cols = [cohort.genes.index(g) for g in genes if g in cohort.genes]
        keep = [genes.index(g) for g in genes if g in cohort.genes]
        np.testing.assert_allclose(slide.expression()[:, cols], want[:, keep], rtol=1e-5, atol=1e-6)


def test_normalised_h5ad_is_refused(tmp_path: Path) -> None:
    truths = make_hest_dir(tmp_path / "c", n_slides=2)
    t = truths["S1"]
    write_h5ad(tmp_path / "c" / "st" / "S1.h5ad", t.barcodes, t.genes, np.log1p(t.counts * 0.37), t.centres)
    with pytest.raises(StbenchError, match=r"Slide S1: S1\.h5ad looks normalised, not raw counts"):
        prepare_cohort(str(tmp_path / "c"), tmp_path / "root")
    assert not (tmp_path / "root" / "prepared" / local_name(tmp_path / "c")).exists()


@pytest.mark.parametrize("n_matching", [0, 10])
def test_patches_of_another_slide_are_refused(tmp_path: Path, n_matching: int) -> None:
    truths = make_hest_dir(tmp_path / "c", n_slides=2)
    t = truths["S1"]
    barcodes = t.barcodes[:n_matching] + [f"OTHER-{k}" for k in range(30 - n_matching)]
    with h5py.File(tmp_path / "c" / "patches" / "S1.h5") as f:
        coords = f["coords"][()]
    write_patch_file(tmp_path / "c" / "patches" / "S1.h5", barcodes, t.patches, coords)
    with pytest.raises(StbenchError, match=f"Slide S1: only {n_matching} of its 30 spots have a patch"):
        prepare_cohort(str(tmp_path / "c"), tmp_path / "root")


def test_metadata_row_without_files_is_refused(tmp_path: Path) -> None:
    make_hest_dir(tmp_path / "c", n_slides=2)
    (tmp_path / "c" / "patches" / "S1.h5").unlink()
    with pytest.raises(StbenchError, match=r"Slide S1 is listed in metadata\.csv but patches/S1\.h5 is missing"):
        prepare_cohort(str(tmp_path / "c"), tmp_path / "root")


def test_paths_that_are_not_cohorts_are_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(StbenchError, match="is not a cohort directory: it has neither"):
        prepare_cohort(str(tmp_path / "empty"), tmp_path / "root")
    (tmp_path / "half" / "st").mkdir(parents=True)
    with pytest.raises(StbenchError, match="it lacks metadata.csv and patches/"):
        prepare_cohort(str(tmp_path / "half"), tmp_path / "root")
    with pytest.raises(StbenchError, match="does not exist"):
        prepare_cohort(str(tmp_path / "nowhere"), tmp_path / "root")
    with pytest.raises(StbenchError, match="Unknown cohort 'hest-st-brest'.*hest-st-breast"):
        prepare_cohort("hest-st-brest", tmp_path / "root")


def test_named_cohort_without_raw_data_names_the_download_command(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STBENCH_SPLITS", str(tmp_path / "splits"))
    write_split_file(tmp_path / "splits", "hest-st-breast", ["S0", "S1", "S2"])
    with pytest.raises(StbenchError, match="run `stbench data download --cohort hest-st-breast`"):
        prepare_cohort("hest-st-breast", tmp_path / "root")


def test_named_hest_cohort_takes_exactly_the_split_slides(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "root"
    raw = root / "raw" / "hest"
    make_hest_dir(raw, n_slides=3, metadata_name="HEST_v1_1_0.csv")
    (raw / ".stbench-download.json").write_text(
        json.dumps({"cohorts": {"hest-st-breast": {"revision": "main", "commit": "ab" * 20}}})
    )
    monkeypatch.setenv("STBENCH_SPLITS", str(tmp_path / "splits"))
    write_split_file(tmp_path / "splits", "hest-st-breast", ["S0", "S2"])
    cohort = prepare_and_load("hest-st-breast", root)
    assert cohort.name == "hest-st-breast" and cohort.source == "hest"
    assert cohort.revision == "ab" * 20
    assert [s.id for s in cohort.slides] == ["S0", "S2"]
    assert cohort.path == root / "prepared" / "hest-st-breast"
    # a prepared cohort refers to the raw patches: deleting them is reported on load
    shutil.rmtree(raw / "patches")
    with pytest.raises(StbenchError, match="which is gone"):
        load_prepared(cohort.path)


def test_unreadable_or_incomplete_files_are_refused(tmp_path: Path) -> None:
    make_hest_dir(tmp_path / "c", n_slides=2)
    (tmp_path / "c" / "st" / "S0.h5ad").write_bytes(b"not hdf5")
    with pytest.raises(StbenchError, match="Slide S0: S0.h5ad is not a readable HDF5 file"):
        prepare_cohort(str(tmp_path / "c"), tmp_path / "root")
    make_hest_dir(tmp_path / "c", n_slides=2)
    with h5py.File(tmp_path / "c" / "patches" / "S1.h5", "a") as f:
        del f["barcode"]
    with pytest.raises(StbenchError, match="Slide S1: S1.h5 lacks the entry"):
        prepare_cohort(str(tmp_path / "c"), tmp_path / "root")
