"""prepare -> run -> report end to end on both hub layouts, as named cohorts and as paths."""

import json
import shutil

import pandas as pd

from stbench.cli import main
from stbench.results.document import read_result
from stbench.protocol.splits import read_split
from tests.fixtures_data import make_hest_dir, make_stimage_dir, write_split_file


def _run_and_report(tmp_path, cohort, extra=()):
    results = tmp_path / "results"
    assert main(["run", "--model", "mean,ridge", "--cohort", cohort, "--results", str(results), *extra]) == 0
    assert main(["report", "--results", str(results), "--out", str(tmp_path / "board.md")]) == 0
    return results, (tmp_path / "board.md").read_text()


def test_named_hest_cohort_end_to_end(tmp_path, monkeypatch):
    root = tmp_path / "root"
    raw = root / "raw" / "hest"
    make_hest_dir(raw, n_slides=5, metadata_name="HEST_v1_1_0.csv")
    (raw / ".stbench-download.json").write_text(
        json.dumps({"cohorts": {"hest-st-brain": {"revision": "main", "commit": "cd" * 20}}})
    )
    monkeypatch.setenv("STBENCH_SPLITS", str(tmp_path / "splits"))
    write_split_file(tmp_path / "splits", "hest-st-brain", [f"S{i}" for i in range(5)])
    results, board = _run_and_report(tmp_path, "hest-st-brain", ["--root", str(root), "--folds", "0,1"])
    doc = read_result(results / "hest-st-brain" / "ridge" / "fold1.json")
    assert doc["cohort"]["revision"] == "cd" * 20 and doc["cohort"]["source"] == "hest"
    assert doc["metrics"]["pearson_gene"] == doc["metrics"]["pearson_gene"]  # not NaN
    assert "| hest-st-brain |" in board and "†2" in board


def _copy_slide(base, src, dst):
    for sub, name in (("image", f"{src}.png"), ("coord", f"{src}_coord.csv"), ("gene_exp", f"{src}_count.csv")):
        shutil.copy(base / "ST" / sub / name, base / "ST" / sub / name.replace(src, dst))


def test_named_stimage_cohort_with_a_qc_drop_end_to_end(tmp_path, monkeypatch):
    root = tmp_path / "root"
    raw = root / "raw" / "stimage"
    make_stimage_dir(raw)
    for new in ("ST_D", "ST_E"):
        _copy_slide(raw, "ST_A", new)
    meta = pd.read_csv(raw / "meta" / "meta_all_gene02122025.csv")
    extra = meta[meta.slide == "ST_A"].assign(slide=["ST_D"]), meta[meta.slide == "ST_A"].assign(slide=["ST_E"])
    pd.concat([meta, *extra]).to_csv(raw / "meta" / "meta_all_gene02122025.csv", index=False)
    monkeypatch.setenv("STBENCH_SPLITS", str(tmp_path / "splits"))
    split = read_split(write_split_file(tmp_path / "splits", "stimage-st-breast", ["ST_A", "ST_C", "ST_D", "ST_E"]))
    fold = next(f.index for f in split.folds if "ST_C" not in f.test)
    results, board = _run_and_report(tmp_path, "stimage-st-breast", ["--root", str(root), "--folds", str(fold)])
    doc = read_result(results / "stimage-st-breast" / "mean" / f"fold{fold}.json")
    assert doc["cohort"]["n_slides"] == 3  # ST_C failed the 64 px radius QC
    assert "ST_C" not in doc["cohort"]["train_slides"] + doc["cohort"]["val_slides"] + doc["cohort"]["test_slides"]
    manifest = json.loads((root / "prepared" / "stimage-st-breast" / "manifest.json").read_text())
    assert manifest["dropped_slides"] == {"ST_C": "radius 50.0 px < 64 px"}
    assert "| stimage-st-breast |" in board


def test_hest_directory_end_to_end(tmp_path):
    make_hest_dir(tmp_path / "mine", n_slides=6)  # the fixture pairs slides into patients
    results, board = _run_and_report(tmp_path, str(tmp_path / "mine"), ["--folds", "0"])
    (cohort,) = [p.name for p in results.iterdir()]
    assert read_result(results / cohort / "ridge" / "fold0.json")["cohort"]["source"] == "local"
    assert f"| {cohort} |" in board
    # the truth of a directory cohort is found from the name its results record: maps and per-gene exports
    assert (tmp_path / "figures" / f"spatial_{cohort}_genes.png").is_file()
    assert cohort in (tmp_path / "exports" / "per_gene_pearson.csv").read_text()
