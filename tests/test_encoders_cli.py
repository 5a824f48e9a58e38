"""``stbench encoders`` and the ``encoder`` setting of the frozen-feature models on the command line."""

from __future__ import annotations

import pytest

from stbench.cli import main
from stbench.encoders import encoder_info, list_encoders
from stbench.results.document import read_result


@pytest.fixture
def wide(monkeypatch, tmp_path):
    monkeypatch.setenv("COLUMNS", "200")  # rich: one line per row
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


def test_encoders_lists_every_entry_with_dim_params_input_and_cache_state(wide, capsys):
    snapshot = wide / "models--MahmoodLab--UNI2-h" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "pytorch_model.bin").write_bytes(b"")
    (wide / "models--MahmoodLab--UNI2-h" / "refs").mkdir()
    (wide / "models--MahmoodLab--UNI2-h" / "refs" / "main").write_text("a" * 40)
    assert main(["encoders"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.count("│") > 3]
    lines = {line.split("│")[1].strip(): line for line in rows}
    assert set(list_encoders()) <= set(lines)
    for name in list_encoders():
        cfg = encoder_info(name)
        cells = [c.strip() for c in lines[name].split("│")[1:-1]]
        assert cells[1:4] == [str(cfg.dim), cfg.params, str(cfg.input_size)]
        assert cells[-1] == ("random" if not cfg.pretrained else "yes" if name == "uni2-h" else "no")


def test_encoders_info_shows_one_entry(wide, capsys):
    assert main(["encoders", "info", "virchow2"]) == 0
    out = capsys.readouterr().out
    for text in ("paige-ai/Virchow2", "vit_huge_patch14_224", "reg_tokens=4", "cls+mean", "2560", "632M",
                 "Zimmermann"):
        assert text in out


def test_encoders_info_unknown_name_is_one_sentence(wide, capsys):
    assert main(["encoders", "info", "virchow3"]) == 2
    assert capsys.readouterr().err.strip() == (
        "stbench: error: Unknown encoder 'virchow3'; did you mean 'virchow' or 'virchow2'?")


@pytest.mark.slow
def test_frozen_feature_models_run_with_another_encoder_and_record_it(tmp_path):
    results = tmp_path / "results"
    argv = ["run", "--model", "ridge,uni-mlp", "--cohort", "demo", "--folds", "0", "--results", str(results),
            "--set", "encoder=resnet50-small-random"]
    assert main(argv) == 0
    for model in ("ridge", "uni-mlp"):
        doc = read_result(results / "demo" / f"{model}@resnet50-small-random" / "fold0.json")  # its own place
        assert doc["model"]["settings"]["encoder"] == "resnet50-small-random"
        assert doc["model"]["config"]["encoder"] == "resnet50-small-random"
        assert doc["metrics"]["pearson_gene"] == doc["metrics"]["pearson_gene"]  # scored, not NaN
