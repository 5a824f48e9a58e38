"""The ``ridge`` baseline: the HEST-Benchmark probe."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from baselines.ridge import RidgePredictor
from stbench import check_predictor
from stbench.encoders import encoder_info
from stbench.torchkit.features import data_features
from stbench.metrics import regression_metrics
from stbench.testing import tiny_split


@pytest.fixture(autouse=True)
def _features_root(tmp_path, monkeypatch):
    monkeypatch.setenv("STBENCH_FEATURES", str(tmp_path / "features"))


def test_conforms():
    check_predictor(RidgePredictor)


@pytest.mark.parametrize("n_components", [256, 8])
def test_equals_a_direct_sklearn_pipeline(n_components):
    train, _, test = tiny_split(0)
    model = RidgePredictor("small", seed=3, n_components=n_components).fit(train)
    encoder = encoder_info("uni-small-random")
    x_train, x_test = data_features(train, encoder), data_features(test, encoder)
    y = train.expression()

    k = min(n_components, len(x_train) - 1, x_train.shape[1])  # 48 train spots: 256 -> 47
    pipe = Pipeline([("scaler", StandardScaler()), ("pca", PCA(n_components=k, random_state=3))])
    z_train = pipe.fit_transform(x_train).astype(np.float32)
    z_test = pipe.transform(x_test).astype(np.float32)
    alpha = 100 / (k * y.shape[1])
    ridge = Ridge(alpha=alpha, solver="lsqr", fit_intercept=False, max_iter=1000).fit(z_train, y)

    assert model.reducer_.named_steps["pca"].n_components_ == k
    assert model.alpha_ == pytest.approx(alpha)
    pred = model.predict(test.hide_expression())
    # HEST's no-intercept probe, plus the training mean of each gene
    np.testing.assert_allclose(pred, ridge.predict(z_test) + y.mean(axis=0), rtol=1e-4, atol=1e-5)


def test_adding_the_mean_leaves_hests_pearson_gene_unchanged_and_fixes_the_errors():
    train, _, test = tiny_split(0)
    model = RidgePredictor("small", seed=0).fit(train)
    pred = model.predict_float64(test.hide_expression())
    z = model.reducer_.transform(data_features(test, encoder_info("uni-small-random"))).astype(np.float32)
    hest = model.ridge_.predict(z).astype(np.float64)
    truth = test.expression().astype(np.float64)
    new, old = regression_metrics(truth, pred), regression_metrics(truth, hest)
    assert new["pearson_gene"] == pytest.approx(old["pearson_gene"], abs=1e-9)
    assert regression_metrics(truth, model.predict(test.hide_expression()))["pearson_gene"] == pytest.approx(
        old["pearson_gene"], abs=1e-6
    )  # after the cast to float32
    # centred predictions sit far from log1p expression; with the mean they are near the floor
    floor = regression_metrics(truth, np.broadcast_to(train.expression().mean(axis=0), truth.shape).copy())
    assert old["l1"] > 2 * floor["l1"]
    assert new["l1"] < 1.5 * floor["l1"] and new["pearson"] > old["pearson"]


def test_profiles_follow_hest():
    for profile in ("small", "paper"):
        cfg = RidgePredictor(profile).get_config()
        assert cfg["n_components"] == 256 and cfg["max_iter"] == 1000
    assert RidgePredictor("paper").get_config()["encoder"] == "uni"
    assert RidgePredictor("paper", encoder="resnet50").get_config()["encoder"] == "resnet50"
