"""stbench validate: a clean results folder passes; each kind of problem is one line, exit 1."""

import json
import shutil

import pytest

from stbench.cli import main
from stbench.submit.validate import validate
from tests.submit_helpers import copy_folds, mean_results

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return mean_results(tmp_path_factory)


def _copy(clean, tmp_path):
    out = tmp_path / "r"
    shutil.copytree(clean, out)
    return out


def _edit(path, change):
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def test_fresh_run_passes_with_metrics_recomputed(clean, capsys):
    assert main(["validate", str(clean)]) == 0
    assert capsys.readouterr().out.startswith("ok")


def test_leaderboard_layout_is_found(clean, tmp_path):
    shutil.copytree(clean, tmp_path / "board" / "results")
    (tmp_path / "board" / "demo.md").write_text("# leaderboard\n")
    assert validate(tmp_path / "board", recompute=False) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["cohort"].update(split_sha256="0" * 64), "is not the frozen split's"),
        (lambda d: d["cohort"].update(panel_sha256="0" * 64), "panel"),
        (lambda d: d["metrics"].update(pearson=1.7), "metric pearson = 1.7 is outside [-1, 1]"),
        (lambda d: d["metrics"].pop("recall_50"), "lacks the metric 'recall_50'"),
        (lambda d: d["model"].update(oracle="no"), "model.oracle must be true or false"),
        (lambda d: d["model"].update(oracle=True), "installed model 'mean' declares False"),
        (lambda d: d.pop("git_sha"), "lacks the field 'git_sha'"),
        (lambda d: d["environment"].pop("python"), "lacks the field environment.python"),
        (lambda d: d["per_slide"].popitem(), "per_slide and the test slides differ"),
        (lambda d: d.update(n_test_spots=d["n_test_spots"] + 1), "add up to"),
        (lambda d: d["cohort"].update(test_slides=d["cohort"]["train_slides"][:1] + d["cohort"]["test_slides"][1:]),
         "is not a test slide of fold 0"),
        (lambda d: d.update(metrics_version=0), "stbench rescore --results"),
        (lambda d: d.update(schema_version=1), "results schema 1"),
    ],
)
def test_each_problem_is_one_line(clean, tmp_path, change, expected):
    results = _copy(clean, tmp_path)
    _edit(results / "demo" / "mean" / "fold0.json", change)
    problems = validate(results, recompute=False)
    assert problems and any(expected in p for p in problems), problems
    assert all("\n" not in p for p in problems)


def test_missing_fold_and_exit_status(clean, tmp_path, capsys):
    results = copy_folds(clean, tmp_path / "r", (0, 1, 2, 4))
    assert main(["validate", str(results), "--no-recompute"]) == 1
    captured = capsys.readouterr()
    assert captured.out.strip() == "demo/mean: fold(s) 3 are missing."
    assert "Traceback" not in captured.err


def test_metrics_that_do_not_match_the_predictions(clean, tmp_path):
    results = copy_folds(clean, tmp_path / "r", (0,))
    _edit(results / "demo" / "mean" / "fold0.json", lambda d: d["metrics"].update(l1=d["metrics"]["l1"] + 0.01))
    problems = validate(results)
    assert any("l1 is" in p and "its predictions score" in p for p in problems), problems
    doc = results / "demo" / "mean" / "fold0.json"
    shutil.rmtree(doc.with_suffix("") / json.loads(doc.read_text())["predictions"])
    assert any("not there" in p for p in validate(results))


def test_seeds_each_cover_every_fold_at_their_own_paths(clean, tmp_path):
    results = _copy(clean, tmp_path)
    folder = results / "demo" / "mean"
    for k in range(5):
        doc = json.loads((folder / f"fold{k}.json").read_text())
        doc["seed"] = 1
        (folder / f"fold{k}-seed1.json").write_text(json.dumps(doc))
    assert validate(results, recompute=False) == []
    (folder / "fold3-seed1.json").unlink()
    assert validate(results, recompute=False) == ["demo/mean: fold(s) 3 of seed 1 are missing."]
    _edit(folder / "fold0.json", lambda d: d.update(seed=2))   # a seed's result in seed 0's place
    problems = validate(results, recompute=False)
    assert any(p.endswith("(it belongs at <cohort>/mean/fold0-seed2.json).") for p in problems), problems
