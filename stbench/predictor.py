"""The one interface every model implements, built-in or third-party.

A predictor maps H&E patches to expression on the cohort's gene panel::

    class MyModel(Predictor):
        name = "my-model"
        version = "1.0"
        profiles = {"small": {"epochs": 2, "lr": 1e-3}, "paper": {"epochs": 100, "lr": 1e-4}}

        def fit(self, train, val=None):
            ...           # train: SpotData with expression; val: SpotData or None
            return self

        def predict(self, data):
            ...           # data: SpotData, expression hidden unless oracle = True
            return preds  # float32 (data.n_spots, data.n_genes), log1p space

Contract (checked by :func:`stbench.check.check_predictor`):

* ``__init__(profile, *, seed, device, workdir, **overrides)`` only stores what it is given:
  the resolved ``config`` is the profile's defaults updated with every override that is not
  ``None`` (as in timm, ``None`` never overrides a default). No training, no weight loading.
* ``fit(train, val)`` returns ``self``. ``train`` and ``val`` are :class:`SpotData` with
  expression. ``val`` is for early stopping / model selection only.
* ``predict(data)`` returns a float32 array (``data.n_spots`` x ``data.n_genes``) of finite
  predictions in log1p space (``log1p(count / total * 1e4)``), rows in ``data``'s order. The
  runner calls it one test slide at a time so memory stays bounded. ``data``'s expression is
  hidden unless the class declares ``oracle = True``.
* Same seed, same data, same device -> same predictions.

The runner gives a predictor a ``workdir`` (a folder beside its results file) for checkpoints
and artefacts, and a progress hook: wrap loops in :meth:`Predictor.track` to get rich
progress bars for epochs and batches.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, TypeVar

import numpy as np

from stbench.data.spots import SpotData
from stbench.errors import StbenchError

T = TypeVar("T")


class ProgressHook(Protocol):
    """What the runner plugs into a predictor to show progress bars."""

    def track(self, iterable: Iterable[T], description: str, total: int | None) -> Iterator[T]: ...


class Predictor(abc.ABC):
    """Base class of every stbench model (see the module docstring for the contract)."""

    name: ClassVar[str]
    """Registry name, as typed on the command line (``stbench run --model NAME``)."""
    version: ClassVar[str] = "0.0.0"
    """The model's version, recorded in every result."""
    oracle: ClassVar[bool] = False
    """True when the model reads held-out expression (an upper bound, not a competitor)."""
    profiles: ClassVar[Mapping[str, Mapping[str, Any]]] = {"small": {}, "paper": {}}
    """Named configurations: at least ``small`` (CPU tests) and ``paper`` (paper settings)."""
    artefacts: ClassVar[Mapping[str, str]] = {}
    """Extra files a fitted model leaves in its workdir for the report: label -> glob pattern
    relative to the workdir (e.g. ``{"atom table": "codebook_top_genes.csv"}``); every result
    lists them, and the report links the files that match."""

    @classmethod
    def check_profile(cls, profile: str) -> None:
        """Raise :class:`StbenchError` (one sentence) unless ``profile`` is one of :attr:`profiles`."""
        if profile not in cls.profiles:
            raise StbenchError(
                f"Model {cls.name!r} has no profile {profile!r}; "
                f"choose one of {', '.join(sorted(cls.profiles))}."
            )

    def __init__(
        self,
        profile: str = "small",
        *,
        seed: int = 0,
        device: str = "cpu",
        workdir: str | Path | None = None,
        **overrides: Any,
    ) -> None:
        self.check_profile(profile)
        unknown = sorted(set(overrides) - set(self.profiles[profile]))
        if unknown:
            raise StbenchError(
                f"Model {self.name!r} has no setting {', '.join(map(repr, unknown))}; "
                f"its settings are {', '.join(sorted(self.profiles[profile])) or 'none'}."
            )
        self.profile = profile
        self.seed = seed
        self.device = device
        self.workdir = Path(workdir) if workdir is not None else None
        self.overrides = dict(overrides)
        self.config: dict[str, Any] = {
            **self.profiles[profile],
            **{k: v for k, v in overrides.items() if v is not None},
        }
        self.progress: ProgressHook | None = None
        self.fit_report: dict[str, Any] | None = None
        """What ``fit`` wants recorded in the result under ``training`` (JSON-serialisable),
        e.g. the chosen epoch and the validation curve; ``None`` records nothing."""

    @abc.abstractmethod
    def fit(self, train: SpotData, val: SpotData | None = None) -> Self:
        """Train on ``train`` (expression visible); ``val`` for model selection. Returns self."""

    @abc.abstractmethod
    def predict(self, data: SpotData) -> np.ndarray:
        """Predict float32 (data.n_spots, data.n_genes) expression in log1p space."""

    def track(self, iterable: Iterable[T], description: str, total: int | None = None) -> Iterable[T]:
        """``iterable``, shown as a progress bar when the runner attached one."""
        if self.progress is None:
            return iterable
        return self.progress.track(iterable, description, total)

    def get_config(self) -> dict[str, Any]:
        """The resolved configuration (JSON-serialisable), recorded in every result."""
        return dict(self.config)
