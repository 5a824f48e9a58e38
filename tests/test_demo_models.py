"""The paper's models on the demo cohort through the runner (small profiles)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stbench.cli import main
from stbench.results.document import read_result

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_genst_beats_mean_and_the_oracle_beats_genst(tmp_path):
    assert main(["run", "--model", "mean,genst,gene2gene", "--cohort", "demo", "--folds", "0", "--results", str(tmp_path)]) == 0
    score = {m: read_result(tmp_path / "demo" / m / "fold0.json")["metrics"]["pearson_gene"] for m in ("mean", "genst", "gene2gene")}
    assert score["mean"] == 0.0
    assert score["genst"] > score["mean"] + 0.05
    assert score["gene2gene"] > score["genst"]
    training = read_result(tmp_path / "demo" / "genst" / "fold0.json")["training"]
    assert training["val_score"] == "pearson_gene" and training["stopped"] in ("early", "max_epochs")
    assert training["best_epoch"] >= 1 and len(training["val_curve"]) == training["epochs_run"] + 1
    artefacts = tmp_path / "demo" / "genst" / "fold0"
    assert (artefacts / "codebook_top_genes.csv").is_file()
    assert list(artefacts.rglob("*.png")) and list(artefacts.glob("*.safetensors"))


def test_list_shows_models_and_cohorts(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("genst", "gene2gene", "stnet", "bleep", "clip", "deepspot", "uni-mlp", "ridge", "mean"):
        assert name in out
    assert "hest-st-spinal" in out and "302" in out


def test_check_predictor_command(capsys):
    assert main(["check-predictor", "mean"]) == 0
    assert "check_no_test_expression" in capsys.readouterr().out


@pytest.mark.slow
def test_example_plugin_installs_and_runs(tmp_path):
    site, source = tmp_path / "site", tmp_path / "plugin"
    shutil.copytree(ROOT / "examples" / "third_party_plugin", source)  # builds stay out of the checkout
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(source)],
        check=True,
    )
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from stbench.cli import main;"
        "sys.exit(main(['run', '--model', 'colour-ridge', '--cohort', 'demo', '--folds', '0', '--results', sys.argv[2]])"
        " or main(['check-predictor', 'colour-ridge']))"
    )
    subprocess.run([sys.executable, "-c", code, str(site), str(tmp_path / "r")], check=True)
    doc = read_result(tmp_path / "r" / "demo" / "colour-ridge" / "fold0.json")
    assert doc["model"]["distribution"] == "stbench-colour"
    assert doc["metrics"]["pearson_gene"] > 0.05
