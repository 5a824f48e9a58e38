"""The ``hest-probe`` baseline: HEST-Benchmark's probe exactly (PCA-256 + ridge, HEST's seed), each
gene's training mean added to HEST's centred output."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from stbench.encoders import encoder_info
from baselines.hest_probe import HestProbePredictor
from baselines.ridge import RidgePredictor
from stbench import check_predictor
from stbench.torchkit.features import data_features
from stbench.metrics import regression_metrics
from stbench.testing import tiny_split


@pytest.fixture(autouse=True)
def _features_root(tmp_path, monkeypatch):
    monkeypatch.setenv("STBENCH_FEATURES", str(tmp_path / "features"))


def test_conforms():
    check_predictor(HestProbePredictor)


def test_is_hests_pipeline_with_hests_seed_whatever_the_run_seed():
    train, _, test = tiny_split(0)
    encoder = encoder_info("uni-small-random")
    x_train, x_test = data_features(train, encoder), data_features(test, encoder)
    y = train.expression()
    k = min(256, len(x_train) - 1, x_train.shape[1])  # the tiny cohort has fewer than 256 train spots
    pipe = Pipeline([("scaler", StandardScaler()), ("pca", PCA(n_components=k, random_state=1))])
    z_train = pipe.fit_transform(x_train).astype(np.float32)
    z_test = pipe.transform(x_test).astype(np.float32)
    hest = Ridge(alpha=100 / (k * y.shape[1]), solver="lsqr", fit_intercept=False, max_iter=1000,
                 random_state=1).fit(z_train, y)
    for seed in (0, 7):
        model = HestProbePredictor("small", seed=seed).fit(train)
        # HEST's raw output (no intercept) plus each gene's training mean
        np.testing.assert_allclose(model.predict(test.hide_expression()), hest.predict(z_test) + y.mean(axis=0),
                                   rtol=1e-4, atol=1e-5)
        assert model.fit_report == {"n_components": k, "alpha": pytest.approx(100 / (k * y.shape[1])),
                                    "n_train_spots": len(x_train), "feature_dim": x_train.shape[1],
                                    "hest_components": False}


def test_pearson_gene_is_ridges():
    train, _, test = tiny_split(1)
    truth = test.expression().astype(np.float64)
    probe = HestProbePredictor("small", seed=0, random_state=5).fit(train).predict(test.hide_expression())
    ridge = RidgePredictor("small", seed=5).fit(train).predict(test.hide_expression())
    a, b = regression_metrics(truth, probe.astype(np.float64)), regression_metrics(truth, ridge.astype(np.float64))
    assert a["pearson_gene"] == pytest.approx(b["pearson_gene"], abs=1e-5)
    # with the training mean added back, the probe sits on the log1p scale as ridge does
    assert a["l1"] == pytest.approx(b["l1"], rel=0.05)
