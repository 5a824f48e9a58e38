"""End to end through the CLI: run -> results JSON -> report, resume, and bad input."""

import json
import shutil
import sys
import textwrap

import pytest

from stbench.cli import main
from stbench.data.demo import generate_demo
from stbench.results.document import read_result
from stbench.protocol.splits import splits_dir


@pytest.fixture(scope="module")
def demo_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    assert main(["run", "--model", "mean", "--cohort", "demo", "--folds", "0,1", "--results", str(out)]) == 0
    return out


def test_run_writes_one_complete_json_per_cell(demo_results):
    for fold in (0, 1):
        doc = read_result(demo_results / "demo" / "mean" / f"fold{fold}.json")
        assert doc["fold"] == fold and doc["model"]["profile"] == "small"
        assert doc["cohort"]["split_file"] == "splits/demo.json"
        assert set(doc["cohort"]["test_slides"]).isdisjoint(doc["cohort"]["train_slides"])
        assert doc["metrics"]["pearson_gene"] == 0.0  # the calibration floor
        assert 0 < doc["metrics"]["pearson"] < 1
        assert {"hungarian", "ari", "nmi"} <= set(doc["metrics"])
        assert set(doc["per_slide"]) == set(doc["cohort"]["test_slides"])
        assert doc["n_test_spots"] == sum(s["n_spots"] for s in doc["per_slide"].values())
        assert set(doc["timings"]) == {"prepare", "fit", "predict", "metrics", "total"}
        assert doc["resources"]["peak_host_mb"] > 0 and doc["resources"]["peak_gpu_mb"] is None
        assert doc["model"]["settings"] == {}
        assert (demo_results / "demo" / "mean" / f"fold{fold}" / "log.txt").exists()
        for key in ("python", "torch", "numpy", "scanpy", "platform", "device"):
            assert key in doc["environment"]
        assert doc["cohort"]["panel_sha256"] and doc["cohort"]["split_sha256"]


def test_rerun_skips_existing_results_unless_overwrite(demo_results, capsys):
    path = demo_results / "demo" / "mean" / "fold0.json"
    before = path.read_text()
    assert main(["run", "--model", "mean", "--cohort", "demo", "--folds", "0", "--results", str(demo_results)]) == 0
    assert path.read_text() == before
    assert "skipped" in capsys.readouterr().out
    assert main(["run", "--model", "mean", "--cohort", "demo", "--folds", "0", "--results", str(demo_results), "--overwrite"]) == 0
    assert json.loads(path.read_text())["created_at"] >= json.loads(before)["created_at"]


def test_report_from_run(demo_results, tmp_path):
    out = tmp_path / "board.md"
    assert main(["report", "--results", str(demo_results), "--out", str(out)]) == 0
    text = out.read_text()
    assert "| demo | **0.000 ± 0.000** †2 |" in text.split("### `pearson_gene`")[1]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "--model", "gesnt", "--cohort", "demo"], "Did you mean 'genst'"),
        (["run", "--model", "mean", "--cohort", "hest-st-brian"], "Did you mean 'hest-st-brain'"),
        (["run", "--model", "mean", "--cohort", "demo", "--folds", "7"], "folds 0 to 4"),
        (["run", "--model", "mean", "--cohort", "demo", "--folds", "a"], "--folds takes"),
        (["run", "--model", "mean", "--cohort", "demo", "--device", "tpu"], "Unknown device"),
        (["check-predictor", "nope"], "Unknown model"),
    ],
)
def test_bad_input_is_one_sentence(argv, message, capsys, tmp_path):
    assert main([*argv, *(["--results", str(tmp_path)] if argv[0] == "run" else [])]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.splitlines()[-1].startswith("stbench: error:") and "Traceback" not in err
    assert not list(tmp_path.rglob("*.json"))


def test_directory_that_is_not_a_cohort(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["run", "--model", "mean", "--cohort", str(tmp_path), "--results", str(tmp_path / "r")]) == 2
    assert "stbench: error:" in capsys.readouterr().err
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").rglob("*.json"))


def test_tampered_split_is_refused_by_run(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "splits"
    shutil.copytree(splits_dir(), folder)
    doc = json.loads((folder / "demo.json").read_text())
    doc["folds"][0]["test"], doc["folds"][0]["train"] = doc["folds"][0]["train"][:2], doc["folds"][0]["test"] + doc["folds"][0]["train"][2:]
    (folder / "demo.json").write_text(json.dumps(doc))
    monkeypatch.setenv("STBENCH_SPLITS", str(folder))
    assert main(["run", "--model", "mean", "--cohort", "demo", "--results", str(tmp_path / "r")]) == 2
    assert "does not match its recorded sha256" in capsys.readouterr().err
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").rglob("*.json"))


def _register(tmp_path, monkeypatch, name, body):
    (tmp_path / "badmodels.py").write_text(textwrap.dedent(body))
    info = tmp_path / "badmodels-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: badmodels\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[stbench.predictors]\n{name} = badmodels:Model\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "badmodels", raising=False)


@pytest.mark.parametrize(
    "body, message",
    [
        ("return np.zeros((data.n_spots, 3), np.float32)", "returned predictions for slide"),
        ("return np.full((data.n_spots, data.n_genes), np.nan, np.float32)", "NaN or infinite"),
        ("return data.expression()", "hidden from predictors"),
    ],
)
def test_bad_predictions_fail_the_cell_and_write_nothing(body, message, tmp_path, monkeypatch, capsys):
    _register(tmp_path, monkeypatch, "bad", f"""
        import numpy as np
        from baselines.mean import MeanPredictor

        class Model(MeanPredictor):
            name = "bad"

            def predict(self, data):
                {body}
        """)
    results = tmp_path / "r"
    assert main(["run", "--model", "bad,mean", "--cohort", "demo", "--folds", "0", "--results", str(results)]) == 1
    captured = capsys.readouterr()
    assert message in captured.out + captured.err
    assert not (results / "demo" / "bad" / "fold0.json").exists()
    assert (results / "demo" / "mean" / "fold0.json").exists()  # the other cell still ran


def test_run_on_a_directory_saves_its_split_beside_the_results(tmp_path, capsys):
    cohort = generate_demo(tmp_path / "mydata", n_slides=6)
    results = tmp_path / "r"
    assert main(["run", "--model", "mean", "--cohort", str(cohort), "--folds", "0", "--results", str(results)]) == 0
    captured = capsys.readouterr()
    assert f"preparing cohort {cohort}" in captured.out + captured.err  # run prepares explicitly, and says so
    (name,) = [p.name for p in results.iterdir()]
    assert name.startswith("local-")
    split = json.loads((results / name / "split.json").read_text())
    assert len(split["slides"]) == 6 and len(split["folds"]) == 3  # 3 patients: one fold each, each tested once
    assert sorted(s for fold in split["folds"] for s in fold["test"]) == split["slides"]
    doc = read_result(results / name / "mean" / "fold0.json")
    assert doc["cohort"]["source"] == "local" and doc["cohort"]["split_sha256"] == split["sha256"]


def test_missing_cohort_data_does_not_stop_the_other_cohorts(tmp_path, capsys):
    results = tmp_path / "r"
    argv = ["run", "--model", "mean", "--cohort", "hest-st-brain,demo", "--folds", "0", "--results", str(results)]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "stbench data download --cohort hest-st-brain" in captured.err
    assert (results / "demo" / "mean" / "fold0.json").exists()
