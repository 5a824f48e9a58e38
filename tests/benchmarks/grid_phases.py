"""Where a grid cell's time goes, by phase: exclusive wall time of wrapped functions.

Used by ``bench_grid.py --phases``. Each phase is a set of functions; calling one starts its phase
and pauses the caller's, so the phases of a cell add up to the cell's wall time (exclusive
attribution: patches decoded inside the colour statistics count as ``patches``). The wrappers
replace the functions in every loaded ``stbench``/``baselines``/``genst`` module that holds
them (``from x import f`` binds a name at import time) and the class attributes of methods; they
cost well under a microsecond per call, next to cProfile's per-call overhead on the small
profiles' many small module calls.

Phases:

* ``patches``: reading patches from the h5 stores and resizing them (:mod:`stbench.data.images`,
  :func:`stbench.torchkit.data.resize_patch`); cached per slide and size across cells;
* ``colour``: per-slide colour statistics and standardisation (:mod:`stbench.torchkit.data`);
* ``features``: frozen-encoder features (:mod:`stbench.torchkit.features`: read, encode or load);
* ``loader``: the training/prediction loader's batches (indexing, collation, moving to device);
* ``augment``: batch augmentation (:class:`stbench.torchkit.augment.BatchAugment`);
* ``forward`` / ``forward-eval``: a ``torch.nn.Module`` call with / without autograd (eval
  covers validation each epoch and test prediction);
* ``backward``: ``Tensor.backward``; ``optimizer``: the optimiser's step;
* ``clustering``: Leiden on truth and prediction of each test slide, several seeds
  (:func:`stbench.metrics.cluster_slide`); ``metrics``: the rest of scoring;
* ``io``: writing predictions and the result (:mod:`stbench.results.predictions`) and the
  training checkpoints of every epoch (:mod:`stbench.torchkit.checkpoints`);
* ``fit-other`` / ``predict-other``: the rest of the model's ``fit`` / ``predict`` (the model's
  own Python: closed-form solves, sampling loops, artefacts);
* ``cell-other``: the cell outside all of the above (claims, logs, start state).
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from collections.abc import Callable
from functools import wraps
from typing import Any

PHASES = (
    "patches", "colour", "features", "loader", "augment", "forward", "forward-eval", "backward", "optimizer",
    "clustering", "metrics", "io", "fit-other", "predict-other", "cell-other",
)


class PhaseTimer:
    """Exclusive wall seconds per phase (the innermost active phase owns the clock)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.stack: list[str] = []
        self.last = time.perf_counter()

    def enter(self, phase: str) -> None:
        now = time.perf_counter()
        if self.stack:
            self.seconds[self.stack[-1]] += now - self.last
        self.last = now
        self.stack.append(phase)

    def exit(self) -> None:
        now = time.perf_counter()
        self.seconds[self.stack.pop()] += now - self.last
        self.last = now

    def wrap(self, fn: Callable, phase: str | Callable[[], str | None]) -> Callable:
        """``fn`` timed as ``phase`` (or as what a callable returns at call time; ``None``: not timed)."""

        @wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            name = phase() if callable(phase) else phase
            if name is None:
                return fn(*args, **kwargs)
            self.enter(name)
            try:
                return fn(*args, **kwargs)
            finally:
                self.exit()

        timed.__wrapped_phase__ = True
        return timed

    def take(self) -> dict[str, float]:
        """The seconds so far, then zero them."""
        out, self.seconds = dict(self.seconds), defaultdict(float)
        return out


def _replace_everywhere(original: Callable, replacement: Callable) -> None:
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(("stbench", "baselines", "genst")):
            continue
        for attr, value in list(vars(module).items()):
            if value is original:
                setattr(module, attr, replacement)


def install(timer: PhaseTimer, model_classes: list[type]) -> None:
    """Wrap the phase functions (call after every model class is imported)."""
    import torch
    from torch.utils.data import dataloader

    import stbench.data.hest as hest
    import stbench.data.images as images
    import stbench.results.predictions as predictions
    import stbench.results.scoring as scoring
    import stbench.torchkit.data as tdata
    import stbench.torchkit.features as features
    from stbench.metrics import clustering
    from stbench.torchkit import augment, training

    functions = [
        (hest, "read_patch_rows", "patches"), (images, "resized_patches", "patches"), (tdata, "resize_patch", "patches"),
        (tdata, "slide_colour_stats", "colour"), (tdata, "standardise_colour", "colour"),
        (features, "slide_features", "features"), (features, "data_features", "features"),
        (training, "to_device", "loader"),
        (clustering, "cluster_slide", "clustering"), (scoring, "score_slides", "metrics"),
        (predictions, "write_slide_predictions", "io"), (predictions, "commit_result", "io"),
    ]
    for module, name, phase in functions:
        original = getattr(module, name)
        _replace_everywhere(original, timer.wrap(original, phase))
    methods = [
        (dataloader._BaseDataLoaderIter, "__next__", "loader"), (augment.BatchAugment, "__call__", "augment"),
        (torch.Tensor, "backward", "backward"),
    ]
    for opt in (torch.optim.RAdam, torch.optim.AdamW, torch.optim.Adam, torch.optim.SGD):
        methods.append((opt, "step", "optimizer"))
    from stbench.torchkit.checkpoints import Checkpoints

    methods += [(Checkpoints, "save_state", "io"), (Checkpoints, "save_best", "io")]
    for cls in model_classes:
        methods += [(cls, "fit", "fit-other"), (cls, "predict", "predict-other")]
    for cls, name, phase in methods:
        setattr(cls, name, timer.wrap(getattr(cls, name), phase))

    def forward_phase() -> str | None:  # the outermost module call only; encoders inside features stay features
        top = timer.stack[-1] if timer.stack else None
        if top in ("forward", "forward-eval", "features"):
            return None
        return "forward" if torch.is_grad_enabled() else "forward-eval"

    torch.nn.Module.__call__ = timer.wrap(torch.nn.Module.__call__, forward_phase)
