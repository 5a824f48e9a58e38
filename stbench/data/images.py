"""Patch pixels at the size a model wants, cached in memory across folds and models."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from stbench.data.spots import PATCH_SIZE, Slide

_CACHE: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
_CACHE_BYTES = 2 * 1024**3


def resized_patches(slide: Slide, size: int) -> np.ndarray:
    """All of a slide's patches resized to ``size`` px: uint8 (n_spots, size, size, 3).

    Resizing is bilinear with antialiasing. Results are kept in a process-wide LRU cache
    (2 GiB) keyed by the slide's ``patch_key``, so every fold and model of a run decodes and
    resizes each slide once. The returned array must not be modified.
    """
    key = (slide.patch_key, size)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    out = _resize(slide.patches(), size)
    out.setflags(write=False)
    _CACHE[key] = out
    while sum(a.nbytes for a in _CACHE.values()) > _CACHE_BYTES and len(_CACHE) > 1:
        _CACHE.popitem(last=False)
    return out


def _resize(patches: np.ndarray, size: int, chunk: int = 512) -> np.ndarray:
    if size == PATCH_SIZE:
        return np.ascontiguousarray(patches)
    import torch
    import torch.nn.functional as F

    out = np.empty((len(patches), size, size, 3), np.uint8)
    for start in range(0, len(patches), chunk):
        x = torch.from_numpy(np.ascontiguousarray(patches[start : start + chunk]))
        x = x.permute(0, 3, 1, 2).float()
        y = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[start : start + chunk] = y.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    return out
