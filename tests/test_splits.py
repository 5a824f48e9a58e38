import json

import pytest

from stbench.cohorts import PAPER_COHORTS
from stbench.errors import StbenchError
from stbench.splits import build_split_document, check_slides, load_split, make_folds, read_split, splits_dir, write_split
from stbench.splitgen import generate

EXPECTED = {
    "hest-st-breast": 108, "hest-st-brain": 87, "hest-st-spinal": 302, "hest-visium-skin": 71,
    "stimage-st-breast": 108, "stimage-visium-brain": 250,
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_committed_splits_verify_and_have_the_paper_slide_counts(name):
    split = load_split(name)
    assert len(split.slides) == EXPECTED[name]
    assert len(split.folds) == 5
    for fold in split.folds:
        n = len(split.slides)
        assert abs(len(fold.test) - 0.2 * n) <= max(3, 0.05 * n)
        assert len(fold.val) >= 1


def test_hest_breast_keeps_patients_on_one_side():
    split = load_split("hest-st-breast")
    for fold in split.folds:
        train = {split.groups[s] for s in fold.train}
        test = {split.groups[s] for s in fold.test}
        val = {split.groups[s] for s in fold.val}
        assert not train & test and not train & val and not val & test


def test_folds_differ_and_are_seeded():
    groups = {f"s{i}": f"s{i}" for i in range(30)}
    a, b = make_folds(groups, seed=1), make_folds(groups, seed=1)
    assert a == b
    assert len({tuple(f["test"]) for f in a}) > 1
    assert make_folds(groups, seed=2) != a


def test_regeneration_is_byte_identical(tmp_path, shared_data):
    generate(
        [c.name for c in PAPER_COHORTS],
        hest_metadata=shared_data / "hest" / "HEST_v1_1_0.csv",
        stimage_metadata=shared_data / "stimage" / "meta_all_gene02122025.csv",
        out_dir=tmp_path,
    )
    for c in PAPER_COHORTS:
        assert (tmp_path / f"{c.name}.json").read_bytes() == (splits_dir() / f"{c.name}.json").read_bytes()


def test_tampered_split_is_refused(tmp_path):
    doc = json.loads((splits_dir() / "hest-st-brain.json").read_text())
    doc["folds"][0]["test"][0], doc["folds"][0]["train"][0] = doc["folds"][0]["train"][0], doc["folds"][0]["test"][0]
    path = tmp_path / "hest-st-brain.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(StbenchError, match="does not match its recorded sha256"):
        read_split(path)


def test_split_that_straddles_a_patient_is_refused(tmp_path):
    doc = build_split_document("x", "rule", {"a": "p", "b": "p", "c": "c", "d": "d"})
    doc["folds"][0] = {"train": ["a", "c"], "val": ["d"], "test": ["b"]}
    from stbench.splits import content_sha256

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
