"""Preparing STImage-layout cohorts: crops, radius QC, conversion to the HEST layout."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from stbench.data.prepare import prepare_and_load, prepare_cohort
from stbench.data.crops import crop_spot
from stbench.errors import StbenchError
from tests.fixtures_data import EDGE_SPOT, SQUARE_SPOT, make_stimage_dir, write_split_file


@pytest.fixture(scope="module")
def stimage_cohort(tmp_path_factory):
    base = tmp_path_factory.mktemp("stimage")
    truths = make_stimage_dir(base / "cohort")
    return truths, prepare_and_load(str(base / "cohort"), base / "root")


def _slide(cohort, sid):
    return next(s for s in cohort.slides if s.id == sid)


def test_radius_qc_drops_and_records_small_spots(stimage_cohort) -> None:
    _, cohort = stimage_cohort
    assert [s.id for s in cohort.slides] == ["ST_A", "VIS_B"]
    assert cohort.dropped_slides == {"ST_C": "radius 50.0 px < 64 px"}
    assert cohort.manifest["dropped_slides"] == cohort.dropped_slides
    assert cohort.manifest["qc"]["min_radius_px"] == {"ST": 64.0, "Visium": 32.0}


def test_slides_are_converted_to_the_hest_layout(stimage_cohort) -> None:
    truths, cohort = stimage_cohort
    layout = cohort.path / "hest_layout"
    assert cohort.manifest["hest_dir"] == "hest_layout"
    meta = pd.read_csv(layout / "metadata.csv")
    assert meta["id"].tolist() == ["ST_A", "VIS_B"]
    assert meta["organ"].tolist() == ["breast", "breast"] and meta["st_technology"].tolist() == ["ST", "Visium"]
    t = truths["VIS_B"]
    with h5py.File(layout / "patches" / "VIS_B.h5") as f:
        barcodes = [b.decode() for b in f["barcode"][:, 0]]
        top_left = f["coords"][()]
        assert f["img"].shape == (len(t.coords), 224, 224, 3) and f["img"].dtype == np.uint8
    want = t.coords.loc[barcodes, ["x", "y"]].to_numpy() - t.radius
    np.testing.assert_allclose(top_left, want)
    meta = cohort.slide_metadata()["ST_A"]
    assert meta == {"technology": "ST", "organ": "breast", "patient": None, "species": "human"}


def test_spot_without_coordinates_is_dropped_and_expression_matches(stimage_cohort) -> None:
    truths, cohort = stimage_cohort
    for entry in cohort.manifest["slides"]:
        assert entry["dropped"] == {"no_patch": 1}
    for slide in cohort.slides:
        counts = truths[slide.id].counts.loc[slide.barcodes]
        want = np.log1p(counts.to_numpy() / counts.to_numpy().sum(axis=1, keepdims=True) * 1e4)
        got = slide.expression()[:, [cohort.genes.index(g) for g in counts.columns]]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(slide.coords, truths[slide.id].coords.loc[slide.barcodes].to_numpy())


@pytest.mark.parametrize("sid, tolerance", [("VIS_B", 0), ("ST_A", 12)])  # TIFF is lossless, JPEG is not
def test_the_painted_square_fills_its_spots_patch(stimage_cohort, sid: str, tolerance: int) -> None:
    _, cohort = stimage_cohort
    slide = _slide(cohort, sid)
    patch = slide.patches([slide.barcodes.tolist().index(SQUARE_SPOT)])[0].astype(int)
    inner = patch[4:-4, 4:-4]
    assert np.abs(inner - np.array([255, 0, 0])).max() <= tolerance + 25 * (tolerance > 0)
    assert np.abs(inner.mean(axis=(0, 1)) - np.array([255, 0, 0])).max() <= tolerance


@pytest.mark.parametrize("sid", ["VIS_B", "ST_A"])
def test_crops_overhanging_the_image_are_padded_white(stimage_cohort, sid: str) -> None:
    _, cohort = stimage_cohort
    slide = _slide(cohort, sid)
    patch = slide.patches([slide.barcodes.tolist().index(EDGE_SPOT)])[0]
    # the spot centre is r/2 from the left edge: the left quarter of the square is outside
    assert (patch[:, :54] == 255).all()
    assert (patch[:, 60:] != 255).any(axis=-1).all()


def test_crop_takes_x_from_xaxis_and_y_from_yaxis(stimage_cohort) -> None:
    truths, cohort = stimage_cohort
    t = truths["VIS_B"]
    slide = _slide(cohort, "VIS_B")
    r = int(t.radius)
    for row in range(0, 20, 3):
        x, y = (int(v) for v in t.coords.loc[slide.barcodes[row], ["x", "y"]])
        region = t.image[y - r : y + r, x - r : x + r].reshape(-1, 3).mean(axis=0)
        np.testing.assert_allclose(slide.patches([row])[0].reshape(-1, 3).mean(axis=0), region, atol=2.0)


def test_crop_spot_geometry_on_a_synthetic_image() -> None:
    image = np.full((100, 200, 3), 255, np.uint8)
    image[40:60, 130:150] = (0, 0, 255)  # square centred at x=140, y=50, half-side 10
    patch = crop_spot(Image.fromarray(image), 140.0, 50.0, 10.0)
    assert patch.shape == (224, 224, 3)
    assert (patch[8:-8, 8:-8] == (0, 0, 255)).all()
    corner = crop_spot(Image.fromarray(image), 195.0, 95.0, 10.0)  # three quarters outside
    assert (corner[120:, :] == 255).all() and (corner[:, 120:] == 255).all()


def test_named_stimage_cohort_uses_the_split_and_the_cohort_qc(tmp_path, monkeypatch) -> None:
    root = tmp_path / "root"
    make_stimage_dir(root / "raw" / "stimage")
    monkeypatch.setenv("STBENCH_SPLITS", str(tmp_path / "splits"))
    write_split_file(tmp_path / "splits", "stimage-st-breast", ["ST_A", "ST_C"])
    cohort = prepare_and_load("stimage-st-breast", root)
    assert cohort.source == "stimage" and cohort.revision is None
    assert [s.id for s in cohort.slides] == ["ST_A"]
    assert cohort.dropped_slides == {"ST_C": "radius 50.0 px < 64 px"}
    data = cohort.spotdata()
    assert data.expression().shape == (data.n_spots, len(cohort.genes))
    assert data.slides[0].patches([0, 1]).shape == (2, 224, 224, 3)


def test_bad_stimage_inputs_are_refused(tmp_path) -> None:
    make_stimage_dir(tmp_path / "c")
    (tmp_path / "c" / "ST" / "image" / "ST_A.png").write_text("not an image")
    with pytest.raises(StbenchError, match=r"Image .*ST_A\.png cannot be read"):
        prepare_cohort(str(tmp_path / "c"), tmp_path / "root")
    (tmp_path / "c" / "ST" / "image" / "ST_A.png").unlink()
    with pytest.raises(StbenchError, match=r"Slide ST_A has no image ST/image/ST_A\.\*"):
        prepare_cohort(str(tmp_path / "c"), tmp_path / "root")
    assert not any((tmp_path / "root" / "prepared").iterdir())


def test_coord_file_without_radius_is_refused(tmp_path) -> None:
    make_stimage_dir(tmp_path / "c")
    coord = tmp_path / "c" / "Visium" / "coord" / "VIS_B_coord.csv"
    pd.read_csv(coord, index_col=0).drop(columns="r").to_csv(coord)
    with pytest.raises(StbenchError, match="VIS_B_coord.csv lacks the column"):
        prepare_cohort(str(tmp_path / "c"), tmp_path / "root")


def test_count_csv_parsing_keeps_names_verbatim_and_refuses_text(tmp_path) -> None:
    from stbench.data.stimage import read_count_csv

    path = tmp_path / "x_count.csv"
    path.write_bytes(b',G1,g1 ,G2\r\n"spot,1",1,2,0\r\nspot2,0,0,3.0\r\n\r\n')
    ids, genes, matrix = read_count_csv(path)
    assert ids.tolist() == ["spot,1", "spot2"]
    assert genes == ["G1", "g1", "G2"]  # duplicates kept: the HEST reader merges them
    np.testing.assert_array_equal(matrix.toarray(), [[1, 2, 0], [0, 0, 3]])
    path.write_text(",G1,G2\nspot1,1,NA\n")
    with pytest.raises(StbenchError, match="x_count.csv holds a row that is not all numbers"):
        read_count_csv(path)


# ---------------------------------------------------------------------------------------
# A named STImage cohort end to end: donor-grouped candidates, QC, folds dealt after QC


_PASS = [  # (slide, donor group in stbench/data/stimage_donors.csv)
    ("Human_Breast_Andersson_10142021_ST_A1", "Andersson:A"), ("Human_Breast_Andersson_10142021_ST_A2", "Andersson:A"),
    ("Human_Breast_Andersson_10142021_ST_B1", "Andersson:B"), ("Human_Breast_Andersson_10142021_ST_B2", "Andersson:B"),
    ("Human_Breast_Andersson_10142021_ST_C1", "Andersson:C"), ("Human_Breast_Andersson_10142021_ST_D1", "Andersson:D"),
    ("Human_Breast_Andersson_10142021_ST_E1", "Andersson:E"), ("Human_Breast_He_06222020_ST_BC23209_C1", "He:BC23209"),
    ("Human_Breast_He_06222020_ST_BC23209_C2", "He:BC23209"), ("Human_Breast_He_06222020_ST_BC23268_C1", "He:BC23268"),
    ("Human_Breast_Stahl_07012016_ST_Layer1", "Stahl:tumour"),
    ("Human_Breast_Stahl_07012016_ST_Layer2", "Stahl:tumour"),
]
_FAIL = ["Human_Breast_Andersson_10142021_ST_F1", "Human_Breast_Andersson_10142021_ST_F2"]  # radius 50 px < 64


def _named_stimage_raw(base):
    """The exact STImage layout under ``base/raw/stimage`` with real slide names: copies of the
    fixture's ST_A (r = 70 px) for the slides of ``_PASS`` and of ST_C (r = 50 px) for ``_FAIL``."""
    import shutil

    src = base / "fixture"
    make_stimage_dir(src)
    raw = base / "root" / "raw" / "stimage"
    for sub in ("image", "coord", "gene_exp"):
        (raw / "ST" / sub).mkdir(parents=True)
    rows = []
    for slide, template in [(s, "ST_A") for s, _ in _PASS] + [(s, "ST_C") for s in _FAIL]:
        shutil.copy(src / "ST" / "image" / f"{template}.png", raw / "ST" / "image" / f"{slide}.png")
        shutil.copy(src / "ST" / "coord" / f"{template}_coord.csv", raw / "ST" / "coord" / f"{slide}_coord.csv")
        shutil.copy(src / "ST" / "gene_exp" / f"{template}_count.csv", raw / "ST" / "gene_exp" / f"{slide}_count.csv")
        rows.append({"slide": slide, "species": "human", "tissue": "breast", "pmid": "1", "tech": "ST"})
    (raw / "meta").mkdir()
    meta = raw / "meta" / "meta_all_gene02122025.csv"
    pd.DataFrame(rows).to_csv(meta, index=False)
    return base / "root", meta


@pytest.fixture(scope="module")
def named_stimage(tmp_path_factory):
    base = tmp_path_factory.mktemp("named-stimage")
    root, meta = _named_stimage_raw(base)
    from stbench.protocol.splitgen import generate

    generate(["stimage-st-breast"], hest_metadata=None, stimage_metadata=meta, out_dir=base / "splits")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STBENCH_SPLITS", str(base / "splits"))
        cohort = prepare_and_load("stimage-st-breast", root)
    return base, root, cohort


def test_named_stimage_candidates_are_grouped_by_donor_and_hold_no_folds(named_stimage) -> None:
    from stbench.protocol.splits import read_split

    base, _, _ = named_stimage
    candidates = read_split(base / "splits" / "stimage-st-breast.json")
    assert candidates.qc_derived and candidates.folds == ()
    assert sorted(candidates.slides) == sorted([s for s, _ in _PASS] + _FAIL)
    assert candidates.groups == {**{s: f"donor:{d}" for s, d in _PASS}, **dict.fromkeys(_FAIL, "donor:Andersson:F")}
    assert candidates.document["seed"] == 2025 and candidates.document["qc"]["min_radius_px"] == 64
    with pytest.raises(StbenchError, match="candidates only"):
        candidates.fold(0)


def test_named_stimage_folds_are_dealt_from_the_qc_passed_slides(named_stimage, monkeypatch) -> None:
    from stbench.data.folds import cohort_split
    from stbench.protocol.splits import make_folds, read_split

    base, root, cohort = named_stimage
    monkeypatch.setenv("STBENCH_SPLITS", str(base / "splits"))
    assert cohort.dropped_slides == dict.fromkeys(_FAIL, "radius 50.0 px < 64 px")
    derived = read_split(cohort.path / "split.json")
    assert cohort.manifest["split"]["sha256"] == derived.sha256
    candidates = read_split(base / "splits" / "stimage-st-breast.json")
    assert cohort.manifest["split"]["candidates_sha256"] == candidates.sha256
    passed = {s: f"donor:{d}" for s, d in _PASS}
    assert sorted(derived.slides) == sorted(passed) and derived.groups == passed
    assert derived.document["qc_dropped"] == cohort.dropped_slides
    # same algorithm and seed as the split generator, on the slides that passed
    assert [list(map(list, (f.train, f.val, f.test))) for f in derived.folds] == [
        [f["train"], f["val"], f["test"]] for f in make_folds(passed, 2025)
    ]
    for fold in derived.folds:  # 12 slides: 2 test, 1 val (targets), one donor per part
        assert 1 <= len(fold.val) <= 2 and 2 <= len(fold.test) <= 3
        sides = [{passed[s] for s in part} for part in (fold.train, fold.val, fold.test)]
        assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    split, origin = cohort_split("stimage-st-breast", cohort, base / "results", split_seed=0)
    assert split.sha256 == derived.sha256 and "split.json" in origin


def test_run_records_the_qc_derived_split_and_verify_checks_it(named_stimage, monkeypatch, capsys) -> None:
    import json

    from stbench.cli import main
    from stbench.protocol.splits import content_sha256

    base, root, cohort = named_stimage
    monkeypatch.setenv("STBENCH_SPLITS", str(base / "splits"))
    results = base / "results"
    argv = ["run", "--model", "mean", "--cohort", "stimage-st-breast", "--folds", "0", "--results", str(results)]
    assert main([*argv, "--root", str(root)]) == 0
    doc = json.loads((results / "stimage-st-breast" / "mean" / "fold0.json").read_text())
    assert doc["cohort"]["split_sha256"] == cohort.manifest["split"]["sha256"]
    assert "split.json" in doc["cohort"]["split_file"]

    # validate checks the result against the prepared QC-derived split, and without the prepared
    # cohort re-deals the folds from the result's own slides: only the missing folds 1-4 remain
    from stbench.submit.validate import validate

    for data_root in (root, base / "no-data"):
        problems = validate(results, root=data_root, recompute=False)
        assert problems == ["stimage-st-breast/mean: fold(s) 1, 2, 3, 4 are missing."], problems
    tampered = dict(doc, cohort=dict(doc["cohort"], split_sha256="0" * 64))
    (results / "stimage-st-breast" / "mean" / "fold0.json").write_text(json.dumps(tampered))
    assert any("QC-derived split" in p for p in validate(results, root=root, recompute=False))
    tampered["cohort"]["test_slides"], tampered["cohort"]["train_slides"] = (
        doc["cohort"]["train_slides"][:1], doc["cohort"]["test_slides"] + doc["cohort"]["train_slides"][1:]
    )
    (results / "stimage-st-breast" / "mean" / "fold0.json").write_text(json.dumps(tampered))
    assert any("is not a test slide of fold 0" in p for p in validate(results, root=base / "no-data", recompute=False))

    capsys.readouterr()
    assert main(["splits", "verify", "--dir", str(base / "splits"), "--root", str(root)]) == 0
    assert f"12 slides pass QC, 5 folds, sha256 {cohort.manifest['split']['sha256'][:12]}" in capsys.readouterr().out

    # a prepared split.json dealt otherwise (valid on its own, hash and all) is refused
    path = cohort.path / "split.json"
    original = path.read_text()
    forged = json.loads(original)
    forged["folds"][0], forged["folds"][1] = forged["folds"][1], forged["folds"][0]  # still a partition
    forged["sha256"] = content_sha256(forged)
    path.write_text(json.dumps(forged))
    try:
        assert main(["splits", "verify", "--dir", str(base / "splits"), "--root", str(root)]) == 2
        assert "is not the one dealt from" in capsys.readouterr().err
        assert main([*argv, "--root", str(root)]) == 2
    finally:
        path.write_text(original)


def test_new_candidates_are_dealt_again_without_preparing_again(named_stimage, tmp_path, monkeypatch) -> None:
    import json

    from stbench.protocol.splits import build_split_document, read_split, write_split

    base, root, cohort = named_stimage
    before = read_split(base / "splits" / "stimage-st-breast.json")
    other = dict(before.document)
    doc = build_split_document(
        "stimage-st-breast", other["rule"], before.groups, seed=7,
        extra={k: other[k] for k in ("grouping", "metadata_file", "metadata_sha256", "qc")}, folds_after_qc=True,
    )
    write_split(tmp_path / "stimage-st-breast.json", doc)
    expr = cohort.path / "expr" / f"{_PASS[0][0]}.npy"
    mtime = expr.stat().st_mtime_ns
    try:
        monkeypatch.setenv("STBENCH_SPLITS", str(tmp_path))
        again = prepare_and_load("stimage-st-breast", root)
        dealt = read_split(again.path / "split.json")
        assert dealt.document["seed"] == 7 and dealt.document["candidates_sha256"] == doc["sha256"]
        assert json.loads((again.path / "manifest.json").read_text())["split"]["sha256"] == dealt.sha256
        assert expr.stat().st_mtime_ns == mtime  # the slides were not prepared again
    finally:
        monkeypatch.setenv("STBENCH_SPLITS", str(base / "splits"))
        prepare_and_load("stimage-st-breast", root)  # deal the module's candidates again for the other tests
