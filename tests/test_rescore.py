"""stbench rescore: metrics recomputed from saved predictions, atomically, without retraining;
outdated and older-schema results are named, never a traceback."""

import json
import shutil

import pytest

from stbench.cli import main
from stbench.metrics import METRICS_VERSION
from tests.submit_helpers import copy_folds, mean_results
from stbench.results.document import SCHEMA_VERSION, load_result, outdated, read_result, scan_results, stale_notice

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    return copy_folds(mean_results(tmp_path_factory), tmp_path_factory.mktemp("rescore") / "results", (0,))


def _doctor(path, **changes):
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc))
    return doc


def test_rescore_restores_metrics_from_saved_predictions(ran, tmp_path, capsys):
    results = tmp_path / "r"
    shutil.copytree(ran, results)
    path = results / "demo" / "mean" / "fold0.json"
    original = read_result(path)
    checkpoint_files = sorted(p.name for p in path.with_suffix("").rglob("*") if p.is_file())
    garbage = {k: 0.123 for k in original["metrics"]}
    _doctor(path, metrics=garbage, metrics_version=0, per_slide={})
    assert [r.path for r in outdated(scan_results(results)[0])] == [path]
    assert any("rescore --results" in line for line in stale_notice(results))

    assert main(["rescore", "--results", str(results)]) == 0
    assert "1 result(s) rescored" in capsys.readouterr().out
    doc = read_result(path)
    assert doc["metrics_version"] == METRICS_VERSION and doc["schema_version"] == SCHEMA_VERSION
    assert scored_numbers(doc) == scored_numbers(original)  # scored from the stored values: bit for bit
    assert doc["training"] == original["training"] and doc["timings"]["fit"] == original["timings"]["fit"]
    assert sorted(p.name for p in path.with_suffix("").rglob("*") if p.is_file()) == checkpoint_files
    assert not list(path.parent.glob(".*.tmp"))  # atomic writes leave no temp file
    assert stale_notice(results) == []


def scored_numbers(doc: dict) -> str:
    """Every number scoring puts in a result, as JSON text (floats written exactly, NaN as NaN)."""
    keys = ("metrics", "per_slide", "excluded", "n_test_spots", "clustering_params", "metrics_version", "predictions")
    return json.dumps({k: doc[k] for k in keys}, sort_keys=True)


def test_rescore_of_an_untouched_run_changes_no_number(ran, tmp_path, capsys):
    results = tmp_path / "r"
    shutil.copytree(ran, results)
    path = results / "demo" / "mean" / "fold0.json"
    before = read_result(path)
    kept = path.with_suffix("") / before["predictions"]
    files = {p.name: p.read_bytes() for p in kept.glob("*.npz")}
    assert main(["rescore", "--results", str(results)]) == 0
    after = read_result(path)
    assert scored_numbers(after) == scored_numbers(before)
    assert {p.name: p.read_bytes() for p in kept.glob("*.npz")} == files  # the same labels: the same folder


def test_results_without_predictions_are_reported_and_left(ran, tmp_path, capsys):
    results = tmp_path / "r"
    shutil.copytree(ran, results)
    path = results / "demo" / "mean" / "fold0.json"
    shutil.rmtree(path.with_suffix("") / json.loads(path.read_text())["predictions"])
    before = _doctor(path, metrics_version=0)
    assert main(["rescore", "--results", str(results), "--model", "mean"]) == 1
    err = capsys.readouterr().err
    assert "left unchanged" in err and "no saved predictions" in err and "Traceback" not in err
    assert json.loads(path.read_text()) == before
    assert main(["rescore", "--results", str(results), "--model", "other"]) == 0  # filtered out: nothing to do


def test_older_schema_is_one_sentence_and_rescore_upgrades_it(ran, tmp_path, capsys):
    results = tmp_path / "r"
    shutil.copytree(ran, results)
    path = results / "demo" / "mean" / "fold0.json"
    doc = _doctor(path, schema_version=1)
    del doc["model"]["source"]
    path.write_text(json.dumps(doc))
    assert read_result(path) is None
    item, problem = load_result(path)
    assert item is None and "results schema 1" in problem and "stbench rescore --results" in problem
    assert main(["report", "--results", str(results)]) in (0, 2)
    assert "Traceback" not in capsys.readouterr().err
    assert main(["rescore", "--results", str(results)]) == 0
    upgraded = read_result(path)
    assert upgraded["schema_version"] == SCHEMA_VERSION and upgraded["model"]["source"] == "harness"


def test_damaged_result_is_reported(tmp_path, capsys):
    path = tmp_path / "r" / "demo" / "mean" / "fold0.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert main(["rescore", "--results", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "not valid JSON" in err and "Traceback" not in err


def test_run_names_outdated_results(ran, tmp_path, capsys):
    results = tmp_path / "r"
    shutil.copytree(ran, results)
    other = results / "demo" / "mean" / "fold1.json"
    doc = json.loads((results / "demo" / "mean" / "fold0.json").read_text())
    doc.update(fold=1, metrics_version=0)
    other.write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["run", "--model", "mean", "--cohort", "demo", "--folds", "0", "--results", str(results)]) == 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "demo/mean/fold1" in text and f"stbench rescore --results {results}" in text
