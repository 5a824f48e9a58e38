"""Conformance checks for Predictor plugins (the stbench analogue of sklearn's check_estimator).

Third parties run these in their own CI::

    from stbench.check import check_predictor
    def test_my_model_conforms():
        check_predictor(MyModel)            # raises AssertionError listing every failure

or from the shell: ``stbench check-predictor NAME``. Each check is a plain function taking the
class and a :class:`CheckContext`; it raises ``AssertionError`` with one sentence on failure.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stbench.data.spots import SpotData
from stbench.errors import ExpressionHiddenError
from stbench.predictor import Predictor
from stbench.testing import tiny_split


@dataclass
class CheckContext:
    """Shared state: the tiny cohort, constructor kwargs, and the first fitted model's output."""

    train: SpotData
    val: SpotData
    test: SpotData
    kwargs: dict[str, Any]
    cache: dict[str, Any] = field(default_factory=dict)

    def make(self, cls: type[Predictor]) -> Predictor:
        return cls(**self.kwargs)

    def test_input(self, cls: type[Predictor]) -> SpotData:
        return self.test if cls.oracle else self.test.hide_expression()

    def fitted(self, cls: type[Predictor]) -> Predictor:
        if "model" not in self.cache:
            self.cache["model"] = self.make(cls).fit(self.train, self.val)
        return self.cache["model"]

    def predictions(self, cls: type[Predictor]) -> np.ndarray:
        if "pred" not in self.cache:
            self.cache["pred"] = self.fitted(cls).predict(self.test_input(cls))
        return self.cache["pred"]


def check_declarations(cls: type[Predictor], ctx: CheckContext) -> None:
    """name, version, oracle and profiles (with small and paper) are declared."""
    assert isinstance(getattr(cls, "name", None), str) and cls.name, "the class sets no name"
    assert isinstance(cls.version, str) and cls.version, "the class sets no version"
    assert isinstance(cls.oracle, bool), "oracle must be a bool"
    missing = {"small", "paper"} - set(cls.profiles)
    assert not missing, f"profiles lack {sorted(missing)}"


def check_init_stores_params(cls: type[Predictor], ctx: CheckContext) -> None:
    """__init__ stores what it is given; None overrides never replace a default."""
    model = ctx.make(cls)
    assert model.profile == ctx.kwargs.get("profile", "small"), "profile not stored as given"
    assert model.seed == ctx.kwargs.get("seed", 0), "seed not stored as given"
    defaults = cls.profiles[model.profile]
    for key, value in defaults.items():
        again = cls(**{**ctx.kwargs, key: None})
        assert again.get_config()[key] == value, f"None for {key!r} replaced its default"


def check_fit_returns_self(cls: type[Predictor], ctx: CheckContext) -> None:
    """fit returns the predictor itself."""
    model = ctx.make(cls)
    assert model.fit(ctx.train, ctx.val) is model, "fit does not return self"


def check_prediction_shape_dtype(cls: type[Predictor], ctx: CheckContext) -> None:
    """predict returns float32 (n_spots, n_genes) with finite values."""
    pred = ctx.predictions(cls)
    assert isinstance(pred, np.ndarray), f"predict returned {type(pred).__name__}, not ndarray"
    expected = (ctx.test.n_spots, ctx.test.n_genes)
    assert pred.shape == expected, f"predict returned shape {pred.shape}, expected {expected}"
    assert pred.dtype == np.float32, f"predict returned dtype {pred.dtype}, expected float32"
    assert np.isfinite(pred).all(), "predict returned NaN or infinite values"


def check_no_test_expression(cls: type[Predictor], ctx: CheckContext) -> None:
    """A non-oracle predicts with the test expression hidden; an oracle declares itself."""
    if cls.oracle:
        return
    try:
        ctx.fitted(cls).predict(ctx.test.hide_expression())
    except ExpressionHiddenError as exc:
        raise AssertionError(
            "predict read held-out expression but the class is not declared an oracle"
        ) from exc


def check_rows_independent(cls: type[Predictor], ctx: CheckContext) -> None:
    """Predicting slide by slide gives the same rows as predicting all slides at once."""
    model = ctx.fitted(cls)
    data = ctx.test_input(cls)
    whole = model.predict(data)
    parts = np.concatenate([model.predict(data.subset([s.id])) for s in data.slides])
    assert np.allclose(whole, parts, rtol=1e-4, atol=1e-5), "predictions depend on the batch"


def check_deterministic(cls: type[Predictor], ctx: CheckContext) -> None:
    """Two fits with the same seed give the same predictions."""
    first = ctx.predictions(cls)
    second = ctx.make(cls).fit(ctx.train, ctx.val).predict(ctx.test_input(cls))
    assert np.allclose(first, second, rtol=1e-4, atol=1e-5), "same seed, different predictions"


CHECKS: tuple[Callable[[type[Predictor], CheckContext], None], ...] = (
    check_declarations,
    check_init_stores_params,
    check_fit_returns_self,
    check_prediction_shape_dtype,
    check_no_test_expression,
    check_rows_independent,
    check_deterministic,
)


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    message: str


def iter_checks(
    cls: type[Predictor], *, profile: str = "small", seed: int = 0, workdir: Path | None = None, **overrides: Any
) -> Iterator[CheckResult]:
    """Run every check on the tiny cohort, yielding one result per check."""
    train, val, test = tiny_split(seed)
    with tempfile.TemporaryDirectory(prefix="stbench-check-") as tmp:
        kwargs = {"profile": profile, "seed": seed, "device": "cpu", "workdir": workdir or Path(tmp), **overrides}
        yield from _run_checks(cls, CheckContext(train, val, test, kwargs))


def _run_checks(cls: type[Predictor], ctx: CheckContext) -> Iterator[CheckResult]:
    for check in CHECKS:
        try:
            check(cls, ctx)
        except AssertionError as exc:
            yield CheckResult(check.__name__, False, str(exc))
        except Exception as exc:  # a crash inside the plugin is a failed check, not ours
            yield CheckResult(check.__name__, False, f"{type(exc).__name__}: {exc}")
        else:
            yield CheckResult(check.__name__, True, (check.__doc__ or "").strip())


def check_predictor(cls: type[Predictor], **kwargs: Any) -> list[CheckResult]:
    """Run every check; raise AssertionError naming each failure, else return the results."""
    results = list(iter_checks(cls, **kwargs))
    failed = [r for r in results if not r.passed]
    if failed:
        lines = "; ".join(f"{r.name}: {r.message}" for r in failed)
        raise AssertionError(f"{cls.__name__} fails {len(failed)} conformance check(s): {lines}")
    return results
