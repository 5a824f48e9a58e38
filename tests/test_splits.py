import json

import pandas as pd
import pytest

from stbench.protocol.cohorts import COHORTS
from stbench.errors import StbenchError
from stbench.protocol.splits import build_split_document, check_slides, load_split, make_folds, read_split, splits_dir, write_split
from stbench.protocol.splitgen import generate

EXPECTED = {
    "hest-st-breast": 108, "hest-st-brain": 87, "hest-st-spinal": 302, "hest-visium-skin": 71,
    "stimage-st-breast": 108, "stimage-visium-brain": 250,
    "hest-visium-brain-mouse": 79, "hest-visium-brain-human": 42, "hest-visium-bowel": 73,
    "hest-visium-kidney": 62, "hest-visium-heart": 42,
    "stimage-visium-liver-mouse": 55, "stimage-visium-liver-human": 44, "stimage-visium-breast": 87,
    "stimage-visium-kidney": 56, "stimage-visium-heart": 31, "stimage-visium-skin": 37, "stimage-visium-pancreas": 40,
}


@pytest.mark.parametrize("name", [n for n in EXPECTED if COHORTS[n].source == "hest"])
def test_committed_hest_splits_verify_and_have_the_expected_slide_counts(name):
    split = load_split(name)
    assert len(split.slides) == EXPECTED[name] and not split.qc_derived
    assert len(split.folds) == 5
    for fold in split.folds:
        n = len(split.slides)
        assert abs(len(fold.test) - 0.2 * n) <= max(3, 0.05 * n)
        assert len(fold.val) >= 1


@pytest.mark.parametrize("name", [n for n in EXPECTED if COHORTS[n].source == "stimage"])
def test_committed_stimage_splits_hold_donor_grouped_candidates(name):
    split = load_split(name)
    assert len(split.slides) == EXPECTED[name] and split.qc_derived and split.folds == ()
    assert all(g.startswith("donor:") for g in split.groups.values())
    assert split.document["qc"]["min_radius_px"] == COHORTS[name].min_radius_px


def _tested_once(folds, slides) -> bool:
    tested = [s for fold in folds for s in fold["test"]]
    return sorted(tested) == sorted(slides)


@pytest.mark.parametrize("path", sorted(splits_dir().glob("*.json")), ids=lambda p: p.stem)
def test_every_slide_of_every_committed_split_is_in_exactly_one_test_part(path):
    split = read_split(path)
    if split.qc_derived:  # candidates: the folds preparation deals from them (all slides passing QC)
        folds = make_folds(split.groups, int(split.document["seed"]), cohort=split.cohort)
    else:
        folds = [{"train": f.train, "val": f.val, "test": f.test} for f in split.folds]
    tested = [s for fold in folds for s in fold["test"]]
    assert sorted(tested) == sorted(split.slides) and len(set(tested)) == len(tested)
    for fold in folds:
        sides = [{split.groups[s] for s in fold[p]} for p in ("train", "val", "test")]
        assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
        assert fold["train"] and (fold["val"] or split.document.get("fractions", {}).get("val") is None)


def test_a_large_group_is_tested_once_and_parts_stay_near_their_targets():
    groups = {**{f"big{i}": "big" for i in range(12)}, **{f"s{i}": f"s{i}" for i in range(28)}}  # n = 40
    folds = make_folds(groups, seed=3)
    assert _tested_once(folds, groups)
    big = set(f"big{i}" for i in range(12))
    assert sum(big <= set(f["test"]) for f in folds) == 1  # the whole group, in one fold's test part
    assert sorted(len(f["test"]) for f in folds) == [7, 7, 7, 7, 12]
    for fold in folds:
        assert 4 <= len(fold["val"]) <= 6 and not big & set(fold["val"])
    three = {"a1": "a", "a2": "a", "a3": "a", "b1": "b", "b2": "b", "c1": "c", "d1": "d", "e1": "e", "e2": "e"}
    for fold in make_folds(three, seed=0):  # every group exceeds the val limit: val still gets one
        assert fold["test"] and fold["val"] and fold["train"]


def test_too_few_groups_fail_generation_in_one_sentence(tmp_path):
    from stbench.protocol.splitgen import split_document

    table = pd.DataFrame({
        "id": [f"S{i}" for i in range(8)], "patient": [f"P{i % 4}" for i in range(8)],
        "st_technology": "Spatial Transcriptomics", "organ": "Brain", "species": "Mus musculus",
    })
    table.to_csv(tmp_path / "HEST_v1_1_0.csv", index=False)
    with pytest.raises(StbenchError, match=r"^The slides of cohort 'hest-st-brain' fall into 4 group\(s\)[^\n]*least 5\)\.$"):
        split_document(COHORTS["hest-st-brain"], tmp_path / "HEST_v1_1_0.csv")
    four = {f"s{i}": f"g{i}" for i in range(4)}
    with pytest.raises(StbenchError, match="too few for 5 folds"):
        build_split_document("x", "rule", four, folds_after_qc=True)  # STImage candidates too
    assert _tested_once(make_folds(four, n_folds=4), four)  # four folds of four groups are possible


def test_a_split_that_tests_a_slide_twice_is_refused(tmp_path):
    doc = build_split_document("x", "rule", {f"s{i}": f"s{i}" for i in range(10)})
    doc["folds"][1]["test"], doc["folds"][1]["train"] = (
        sorted(doc["folds"][1]["test"] + doc["folds"][0]["test"][:1]),
        [s for s in doc["folds"][1]["train"] if s != doc["folds"][0]["test"][0]],
    )
    from stbench.protocol.splits import content_sha256

    doc["sha256"] = content_sha256(doc)
    write_split(tmp_path / "x.json", doc)
    with pytest.raises(StbenchError, match="do not hold every slide exactly once"):
        read_split(tmp_path / "x.json")


def test_hest_breast_keeps_patients_on_one_side():
    split = load_split("hest-st-breast")
    for fold in split.folds:
        train = {split.groups[s] for s in fold.train}
        test = {split.groups[s] for s in fold.test}
        val = {split.groups[s] for s in fold.val}
        assert not train & test and not train & val and not val & test


def test_folds_partition_the_slides_and_are_seeded():
    groups = {f"s{i}": f"s{i}" for i in range(30)}
    a, b = make_folds(groups, seed=1), make_folds(groups, seed=1)
    assert a == b and _tested_once(a, groups)
    assert all(len(f["test"]) == 6 and len(f["val"]) == 3 and len(f["train"]) == 21 for f in a)
    assert make_folds(groups, seed=2) != a


def test_regeneration_is_byte_identical(tmp_path, shared_data):
    names = [n for n, c in COHORTS.items() if c.source != "demo" and not c.published]
    generate(
        names,
        hest_metadata=shared_data / "hest" / "HEST_v1_1_0.csv",
        stimage_metadata=shared_data / "stimage" / "meta_all_gene02122025.csv",
        out_dir=tmp_path,
    )
    assert sorted(p.stem for p in splits_dir().glob("*.json") if p.stem in COHORTS) == sorted(COHORTS)
    for name in names:
        assert (tmp_path / f"{name}.json").read_bytes() == (splits_dir() / f"{name}.json").read_bytes()


def test_tampered_split_is_refused(tmp_path):
    doc = json.loads((splits_dir() / "hest-st-brain.json").read_text())
    doc["folds"][0]["test"][0], doc["folds"][0]["train"][0] = doc["folds"][0]["train"][0], doc["folds"][0]["test"][0]
    path = tmp_path / "hest-st-brain.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(StbenchError, match="does not match its recorded sha256"):
        read_split(path)


def test_split_that_straddles_a_patient_is_refused(tmp_path):
    doc = build_split_document("x", "rule", {"a": "p", "b": "p", "c": "c", "d": "d", "e": "e", "f": "f"})
    doc["folds"][0] = {"train": ["a", "c", "e", "f"], "val": ["d"], "test": ["b"]}
    from stbench.protocol.splits import content_sha256

    doc["sha256"] = content_sha256(doc)
    write_split(tmp_path / "x.json", doc)
    with pytest.raises(StbenchError, match="one patient in both"):
        read_split(tmp_path / "x.json")


def test_slide_set_mismatch_is_refused():
    split = load_split("stimage-st-breast")
    kept = list(split.slides[:-2])
    dropped = {split.slides[-2]: "radius 40 px < 64 px"}
    with pytest.raises(StbenchError, match="absent from the data"):
        check_slides(split, kept, dropped)
    check_slides(split, kept, {**dropped, split.slides[-1]: "radius"})
    with pytest.raises(StbenchError, match="not in the split"):
        check_slides(split, [*split.slides, "EXTRA"], {})


def test_a_result_made_on_an_older_split_is_named_outdated_with_the_command_that_recomputes_it(tmp_path):
    import shutil
    from pathlib import Path

    from stbench.report.collect import load_board, stale_message
    from stbench.submit.validate import validate

    committed = Path(__file__).resolve().parents[1] / "leaderboard" / "results" / "demo" / "mean"
    folder = tmp_path / "results" / "demo" / "mean"
    shutil.copytree(committed / "fold0", folder / "fold0")
    doc = json.loads((committed / "fold0.json").read_text())
    doc["cohort"]["split_sha256"] = "0" * 64  # a split since regenerated
    (folder / "fold0.json").write_text(json.dumps(doc))
    command = f"stbench run --model mean --cohort demo --folds 0 --overwrite --results {tmp_path / 'results'}"
    problems = validate(tmp_path / "results", root=tmp_path / "no-data", recompute=False)
    assert any("outdated" in p and command in p for p in problems)
    assert command in stale_message(load_board(tmp_path / "results"))
