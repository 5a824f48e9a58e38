"""stbench score: external predictions score exactly as stbench run scores them."""

import json

import anndata
import numpy as np
import pandas as pd
import pytest

from stbench.cli import main
from stbench.data.folds import load_fold
from stbench.results.predictions import read_slide_predictions
from stbench.results.document import read_result
from tests.submit_helpers import copy_folds, mean_results

pytestmark = pytest.mark.slow


def _mean_predictions(fold):
    """The `mean` baseline's float32 predictions for the fold's test slides, fitted as run fits it."""
    from baselines.mean import MeanPredictor

    model = MeanPredictor(profile="small", seed=0, device="cpu", workdir=None)
    model.fit(fold.cohort.spotdata(fold.train), fold.cohort.spotdata(fold.val))
    return {sid: model.predict(fold.cohort.spotdata([sid]).hide_expression()) for sid in fold.test}


def _write(folder, fold, preds, suffix=".h5ad", seed=0):
    """One file per test slide with spots and genes shuffled (score must put them back)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    by_id = {s.id: s for s in fold.cohort.slides}
    for sid, x in preds.items():
        rows, cols = rng.permutation(x.shape[0]), rng.permutation(x.shape[1])
        obs, var = np.asarray(by_id[sid].barcodes)[rows], np.asarray(fold.cohort.genes)[cols]
        if suffix == ".h5ad":
            anndata.AnnData(
                X=x[np.ix_(rows, cols)], obs=pd.DataFrame(index=obs), var=pd.DataFrame(index=var)
            ).write_h5ad(folder / f"{sid}.h5ad")
        else:
            np.savez(folder / f"{sid}.npz", X=x[np.ix_(rows, cols)], obs_names=obs, var_names=var)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("score")
    copy_folds(mean_results(tmp_path_factory), base / "run", (0,))
    fold = load_fold("demo", 0)
    preds = _mean_predictions(fold)
    _write(base / "h5ad", fold, preds)
    assert main(["score", "--cohort", "demo", "--fold", "0", "--predictions", str(base / "h5ad"),
                 "--name", "mean-ext", "--results", str(base / "scored")]) == 0
    return base, fold, preds


def test_mean_scores_identically_through_run_and_score(setup):
    base, fold, _ = setup
    ran = read_result(base / "run" / "demo" / "mean" / "fold0.json")
    scored = read_result(base / "scored" / "demo" / "mean-ext" / "fold0.json")
    assert set(ran["metrics"]) == set(scored["metrics"])
    for key, value in ran["metrics"].items():
        assert scored["metrics"][key] == pytest.approx(value, abs=1e-6, nan_ok=True), key
    for sid, values in ran["per_slide"].items():
        for key, value in values.items():
            assert scored["per_slide"][sid][key] == pytest.approx(value, abs=1e-6, nan_ok=True), (sid, key)
    assert scored["excluded"] == ran["excluded"]
    assert scored["model"]["source"] == "predictions" and ran["model"]["source"] == "harness"
    assert scored["model"]["oracle"] is False
    assert set(scored) == set(ran)  # the same document, built by the same function
    for key in ("split_sha256", "panel_sha256", "test_slides", "train_slides"):
        assert scored["cohort"][key] == ran["cohort"][key]
    kept_dir = base / "scored" / "demo" / "mean-ext" / "fold0" / scored["predictions"]
    kept = read_slide_predictions(kept_dir, fold.test[0])
    assert list(kept.var_names) == list(fold.cohort.genes)  # stored in panel order
    assert np.allclose(kept.X.astype(np.float32), setup[2][fold.test[0]], atol=1e-2)


def test_npz_predictions_and_oracle_flag(setup, tmp_path):
    base, fold, preds = setup
    _write(tmp_path / "npz", fold, preds, suffix=".npz", seed=1)
    assert main(["score", "--cohort", "demo", "--fold", "0", "--predictions", str(tmp_path / "npz"),
                 "--name", "ext-oracle", "--oracle", "--results", str(tmp_path / "r")]) == 0
    doc = read_result(tmp_path / "r" / "demo" / "ext-oracle" / "fold0.json")
    ref = read_result(base / "scored" / "demo" / "mean-ext" / "fold0.json")
    assert doc["model"]["oracle"] is True
    assert doc["metrics"]["pearson"] == pytest.approx(ref["metrics"]["pearson"], abs=1e-6)


def _score_err(folder, capsys, name="bad"):
    code = main(["score", "--cohort", "demo", "--fold", "0", "--predictions", str(folder), "--name", name,
                 "--results", str(folder.parent / "r")])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    return err


def test_every_problem_is_one_sentence(setup, tmp_path, capsys):
    _, fold, preds = setup
    first, second = fold.test[0], fold.test[1]
    bad = dict(preds)
    x = bad[first].copy()
    x[0, 0] = np.nan
    bad[first] = x
    _write(tmp_path / "p", fold, bad)
    (tmp_path / "p" / "NOT_A_SLIDE.npz").write_bytes(b"")
    err = _score_err(tmp_path / "p", capsys)
    assert "NaN or infinite" in err and first in err
    assert "NOT_A_SLIDE.npz is not a test slide" in err

    (tmp_path / "p" / "NOT_A_SLIDE.npz").unlink()
    (tmp_path / "p" / f"{second}.h5ad").unlink()
    assert f"No predictions for test slide {second}" in _score_err(tmp_path / "p", capsys)


def test_barcode_gene_shape_and_dtype_problems(setup, tmp_path, capsys):
    _, fold, preds = setup
    by_id = {s.id: s for s in fold.cohort.slides}
    folder = tmp_path / "p"
    _write(folder, fold, preds)
    sid = fold.test[0]
    x, obs, genes = preds[sid], np.asarray(by_id[sid].barcodes), np.asarray(fold.cohort.genes)

    np.savez(folder / f"{sid}.npz", X=x, obs_names=obs, var_names=genes)
    (folder / f"{sid}.h5ad").unlink()
    np.savez(folder / f"{sid}.npz", X=x[:, :-1], obs_names=obs, var_names=genes[:-1])
    assert "gene(s) of the cohort are missing, e.g. '" in _score_err(folder, capsys)
    np.savez(folder / f"{sid}.npz", X=x, obs_names=np.r_[obs[:-1], ["XX"]], var_names=genes)
    assert "barcode" in _score_err(folder, capsys)
    np.savez(folder / f"{sid}.npz", X=x[:-1], obs_names=obs, var_names=genes)
    assert "shape" in _score_err(folder, capsys)
    np.savez(folder / f"{sid}.npz", X=(x * 100).astype(np.int32), obs_names=obs, var_names=genes)
    assert "dtype int32" in _score_err(folder, capsys)
    np.savez(folder / f"{sid}.npz", X=x, obs_names=obs, var_names=np.r_[genes[:-1], genes[:1]])
    assert "more than once" in _score_err(folder, capsys)
    np.savez(folder / f"{sid}.npz", X=x, obs_names=obs.astype(object), var_names=genes)
    assert "save obs_names and var_names as strings" in _score_err(folder, capsys)


def test_installed_model_names_are_refused(setup, capsys):
    base = setup[0]
    assert "installed model" in _score_err(base / "h5ad", capsys, name="mean")
