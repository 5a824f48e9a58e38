"""HEST-Benchmark's tasks as named cohorts: the transcribed split files and preparation on their panel."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from stbench.protocol.cohorts import HEST_BENCH_COHORTS, expand_cohort_names
from stbench.data.prepare import prepare_and_load
from stbench.errors import StbenchError
from stbench.protocol.splitgen import split_document
from stbench.protocol.splits import build_split_document, load_split, write_split
from tests.fixtures_data import make_hest_dir

NAMES = [c.name for c in HEST_BENCH_COHORTS]


@pytest.mark.parametrize("name", NAMES)
def test_committed_split_is_a_patient_level_k_fold_on_a_50_gene_panel(name, shared_data):
    split = load_split(name)  # verifies the sha256, the partition of every fold, patients on one side
    doc = split.document
    assert len(doc["genes"]) == len(set(doc["genes"])) == 50
    assert doc["n_folds"] == len(split.folds)
    # k-fold without validation: each sample is tested exactly once, val is empty
    assert sorted(s for f in split.folds for s in f.test) == sorted(split.slides)
    assert all(f.val == () for f in split.folds)
    # the groups are the HEST-1k metadata's patients (what HEST's create_splits groups by)
    meta = pd.read_csv(shared_data / "hest" / "HEST_v1_1_0.csv", encoding="utf-8-sig").set_index("id")
    for sid, group in split.groups.items():
        patient = meta.loc[sid, "patient"]
        assert group == (f"patient:{patient}" if isinstance(patient, str) else f"slide:{sid}")
    assert set(doc["sources"]) >= {"samples", "folds", "genes", "retrieved"}


def test_the_published_folds_are_transcribed():
    coad, read = load_split("hest-bench-coad"), load_split("hest-bench-read")
    # COAD/splits/train_0.csv and test_1.csv both list TENX111 alone
    assert coad.folds[0].train == ("TENX111",) and coad.folds[1].test == ("TENX111",)
    # READ/splits/test_0.csv lists ZEN49 and ZEN48, train_0.csv ZEN40 and ZEN36
    assert read.folds[0].test == ("ZEN48", "ZEN49") and read.folds[0].train == ("ZEN36", "ZEN40")


def test_group_name_and_generation_refused():
    assert expand_cohort_names("hest-bench") == NAMES
    with pytest.raises(StbenchError, match="transcribed from"):
        split_document(HEST_BENCH_COHORTS[0], None)


def test_prepared_on_the_published_panel(tmp_path, monkeypatch):
    root = tmp_path / "root"
    raw = root / "raw" / "hest"
    make_hest_dir(raw, n_slides=3, n_spots=24, metadata_name="HEST_v1_1_0.csv")
    (raw / ".stbench-download.json").write_text(json.dumps({"cohorts": {}}))
    monkeypatch.setenv("STBENCH_SPLITS", str(tmp_path / "splits"))

    def publish(genes):
        doc = build_split_document("hest-bench-coad", "fixture", {f"S{i}": f"S{i}" for i in range(3)},
                                   extra={"genes": genes}, n_folds=3)
        write_split(tmp_path / "splits" / "hest-bench-coad.json", doc)

    # lower-case and duplicate spellings are harmonised; a gene no slide measures is kept (zeros)
    publish(["GENE010", "gene002", "Gene002", "NOT_MEASURED"])
    cohort = prepare_and_load("hest-bench-coad", root)
    assert cohort.genes == ("GENE002", "GENE010", "NOT_MEASURED")
    manifest = json.loads((cohort.path / "manifest.json").read_text())
    assert manifest["panel_rule"]["rule"].startswith("published panel")
    slide = cohort.slides[0]
    expr = slide.expression()
    assert expr.shape == (slide.n_spots, 3) and np.all(expr[:, 2] == 0) and expr[:, :2].any()
    # a changed published panel makes the prepared folder stale
    publish(["GENE003"])
    assert prepare_and_load("hest-bench-coad", root).genes == ("GENE003",)
