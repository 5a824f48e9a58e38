import sys
from pathlib import Path

import pytest

from stbench import registry
from stbench.errors import StbenchError


def test_builtins_registered_through_entry_points():
    plugins = registry.available()
    for name in ("genst", "gene2gene"):
        assert plugins[name].distribution == "stbench-genst"
    for name in ("mean", "stnet", "bleep", "clip", "deepspot", "uni-mlp", "ridge"):
        assert plugins[name].distribution == "stbench-baselines"


def test_listing_imports_nothing():
    sys.modules.pop("baselines.mean", None)
    registry.available()
    assert "baselines.mean" not in sys.modules


def test_unknown_name_suggests_closest():
    with pytest.raises(StbenchError, match="Did you mean 'genst'"):
        registry.plugin_info("gesnt")


def test_create_predictor_passes_kwargs():
    model = registry.create_predictor("mean", profile="paper", seed=3)
    assert (model.name, model.profile, model.seed) == ("mean", "paper", 3)


def _fake_dist(site: Path, dist: str, target: str) -> None:
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[stbench.predictors]\nmean = {target}\n")


def test_two_distributions_claiming_one_name_is_an_error(tmp_path, monkeypatch):
    _fake_dist(tmp_path, "other_plugin", "other_plugin:Mean")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(StbenchError, match="other_plugin") as err:
        registry.available()
    assert "stbench-baselines" in str(err.value)


def test_entry_point_that_is_not_a_predictor(tmp_path, monkeypatch):
    info = tmp_path / "badplug-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: badplug\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[stbench.predictors]\nbad-model = json:dumps\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(StbenchError, match="not a stbench.Predictor"):
        registry.get_predictor_class("bad-model")
