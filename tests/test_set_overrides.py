"""``stbench run --set``: parsing, targeting, validation, recording, and recomputation."""

from __future__ import annotations

import pytest

from stbench.cli import main
from stbench.errors import StbenchError
from stbench.grid.settings import parse_value, resolve_settings
from stbench.results.document import read_result
from tests.test_grid_cells import cell_files, plugin, run, small_cohort  # noqa: F401  (fixtures)

PROFILES = {"genst": {"epochs": 5, "lr": 3e-3, "backbone": "resnet18", "pretrained": False},
            "stnet": {"epochs": 5, "lr": 1e-3}, "mean": {}}


@pytest.mark.parametrize("text, value", [
    ("50", 50), ("1e-4", 1e-4), ("true", True), ('"adamw"', "adamw"), ("adamw", "adamw"), ("[1, 2]", [1, 2]),
])
def test_values_are_toml_scalars_or_plain_strings(text, value):
    assert parse_value(text) == value


def test_model_key_targets_one_model_and_plain_key_every_model_that_has_it():
    out = resolve_settings(["epochs=50", "genst.lr=1e-4", "genst.epochs=7"], PROFILES)
    assert out == {"genst": {"epochs": 7, "lr": 1e-4}, "stnet": {"epochs": 50}, "mean": {}}
    assert resolve_settings(["lr=1"], PROFILES)["stnet"] == {"lr": 1.0}  # an int is fine for a float


@pytest.mark.parametrize("item, message", [
    ("genst.epoch=3", "Model 'genst' has no setting 'epoch'; its settings are backbone, epochs, lr, pretrained."),
    ("nope=3", "No selected model has a setting 'nope'"),
    ("genst.epochs=many", "epochs takes a int (its default is 5)"),
    ("genst.pretrained=1", "pretrained takes a bool"),
    ("clip.epochs=3", "'clip' is not one of the selected models"),
    ("epochs", "--set takes KEY=VALUE or MODEL.KEY=VALUE"),
])
def test_bad_settings_are_one_sentence(item, message):
    with pytest.raises(StbenchError, match=None) as err:
        resolve_settings([item], PROFILES)
    assert message in str(err.value)


def test_settings_are_recorded_and_a_result_with_other_settings_is_recomputed(small_cohort, tmp_path, plugin, capsys):
    results = tmp_path / "r"
    assert run(small_cohort, results, "--set", "gridplug.shift=0.5", model="gridplug") == 0
    path = cell_files(results, "gridplug")[0]
    first = read_result(path)
    assert first["model"]["settings"] == {"shift": 0.5} and first["model"]["config"]["shift"] == 0.5
    assert run(small_cohort, results, "--set", "shift=0.5", model="gridplug") == 0
    assert "skipped" in capsys.readouterr().out and read_result(path)["created_at"] == first["created_at"]
    assert run(small_cohort, results, model="gridplug") == 0  # default settings: not the same result
    again = read_result(path)
    assert again["model"]["settings"] == {} and again["metrics"]["l1"] != first["metrics"]["l1"]


def test_unknown_setting_on_the_command_line(small_cohort, tmp_path, plugin, capsys):
    assert run(small_cohort, tmp_path / "r", "--set", "gridplug.shfit=1", model="gridplug") == 2
    err = capsys.readouterr().err
    assert "Model 'gridplug' has no setting 'shfit'; its settings are hold, mode, shift." in err
    assert "Traceback" not in err


def test_list_settings_prints_each_profile_with_defaults(capsys):
    assert main(["list", "--settings", "ridge"]) == 0
    out = capsys.readouterr().out
    assert "small" in out and "paper" in out and "setting" in out
    assert main(["list", "--settings", "ridg"]) == 2
    assert "Did you mean 'ridge'?" in capsys.readouterr().err
