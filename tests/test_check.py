import numpy as np
import pytest

from baselines.mean import MeanPredictor
from stbench.check import check_predictor, iter_checks


def test_mean_passes_every_check():
    results = check_predictor(MeanPredictor)
    assert all(r.passed for r in results) and len(results) >= 7


class Peeker(MeanPredictor):
    name = "peeker"

    def predict(self, data):
        return data.expression().astype(np.float32)


class NaNs(MeanPredictor):
    name = "nans"

    def predict(self, data):
        out = super().predict(data)
        out[0, 0] = np.nan
        return out


class Wrong(MeanPredictor):
    name = "wrong"

    def predict(self, data):
        return super().predict(data)[:, :-1].astype(np.float64)


class Noisy(MeanPredictor):
    name = "noisy"

    def predict(self, data):
        return super().predict(data) + np.random.default_rng().normal(size=1).astype(np.float32)


class NoneOverrides(MeanPredictor):
    name = "none-overrides"
    profiles = {"small": {"width": 4}, "paper": {"width": 8}}

    def __init__(self, profile="small", **kw):
        super().__init__(profile, **kw)
        self.config = {"width": kw.get("width", 4)}


@pytest.mark.parametrize(
    "cls, failing",
    [
        (Peeker, "check_no_test_expression"),
        (NaNs, "check_prediction_shape_dtype"),
        (Wrong, "check_prediction_shape_dtype"),
        (Noisy, "check_deterministic"),
        (NoneOverrides, "check_init_stores_params"),
    ],
)
def test_broken_predictors_fail_the_right_check(cls, failing):
    results = {r.name: r for r in iter_checks(cls)}
    assert not results[failing].passed, results[failing]
    with pytest.raises(AssertionError, match=failing):
        check_predictor(cls)


def test_oracle_may_read_test_expression():
    class Oracle(Peeker):
        name = "oracle"
        oracle = True

    check_predictor(Oracle)
