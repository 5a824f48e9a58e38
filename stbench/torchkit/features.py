"""Frozen-encoder features of every spot, computed once and cached on disk.

Models built on a frozen encoder (DeepSpot, UNI-MLP, the HEST ridge probe) share one cache, so
each slide is encoded once per encoder and view, then reused by every fold, model and run::

    feats = slide_features(slide, encoder, view="spot")          # float32 (n_spots, dim)
    subs = slide_features(slide, encoder, view="subtile3x3")     # float32 (n_spots, 9, dim)

Layout: ``<root>/<encoder-key>/<slide-id>-<patch_key>[-<view>][-bf16].npy`` (no view suffix for
the ``spot`` view; ``-bf16`` for features computed under bfloat16 autocast), float32 ``.npy``
files, where

* ``root`` is the ``root`` argument of :class:`FeatureCache`, else ``$STBENCH_FEATURES``, else
  ``data_root()/features``;
* ``encoder-key`` is ``<encoder name>-<12 hex digits>``, a SHA-256 of the encoder's
  :meth:`FrozenEncoder.cache_id` (architecture, preprocessing, weights identity: for published
  weights the hub repository @ the commit they resolve to, see :mod:`stbench.encoders`) and of
  :data:`FEATURES_VERSION` (bumped when this module's preprocessing changes); the folder also
  holds ``encoder.txt`` with the full ``cache_id`` for humans;
* ``patch_key`` is the hash of the slide's stored patch content.

Any change of encoder, weights, view, preprocessing or patches gives a new file name, so stale
features are never read (old files stay until deleted by hand). The device is not part of the
key: features computed on a GPU and on a CPU differ by floating-point noise only. Files are
written to a unique temporary file in the same folder and renamed with :func:`os.replace`, which
is atomic: readers never see a partial file, and two runs computing the same features at once
both succeed (the last rename wins). A file whose shape does not match the slide is recomputed.

Features are computed in eval mode under ``torch.inference_mode``, in float32, or under bfloat16
autocast on a GPU when asked (``bf16=True``; ignored on a CPU); they are stored as float32.
``workers`` threads read and resize the next batches while the encoder runs.
A :class:`FeatureCache` keeps each encoder it built in memory (UNI: ~1.2 GB) for later misses.
Disk cost: 4 B x dim per spot for ``spot`` and 36 B x dim for ``subtile3x3`` (UNI: 4 KiB and
36 KiB per spot).

Views:

* ``spot`` -- the 224 px spot patch resized to the encoder's input side.
* ``subtile<n>x<n>`` (e.g. ``subtile3x3``) -- the patch cut into n x n square sub-tiles of side
  ``224 // n`` px (row-major, starting at the top-left corner; the remainder on the right and
  bottom is dropped, as DeepSpot's ``compute_mini_tiles`` does), each resized to the input side.

Resizing is bilinear with antialiasing on uint8 pixels (rounded back to uint8, like
torchvision's tensor transforms), then pixels are scaled to [0, 1] and normalised with the
encoder's mean and std.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

from stbench.data.spots import PATCH_SIZE, Slide, SpotData
from stbench.paths import data_root

if TYPE_CHECKING:
    import torch

T = TypeVar("T")

FEATURES_VERSION = 1
"""Version of the preprocessing in this module; part of every cache key."""

ENV_VAR = "STBENCH_FEATURES"
"""Environment variable overriding the cache root."""

Progress = Callable[[Iterable[T], str, int | None], Iterable[T]]
"""A progress hook such as :meth:`stbench.Predictor.track`: (iterable, description, total)."""

_SUBTILE = re.compile(r"subtile(\d+)x\1")


class FrozenEncoder(Protocol):
    """What the cache needs to know about an encoder (see :class:`stbench.encoders.EncoderConfig`)."""

    name: str
    input_size: int
    dim: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def cache_id(self) -> str:
        """Everything the features depend on (architecture, preprocessing, weights identity)."""
        ...

    def build(self) -> torch.nn.Module:
        """The network in eval mode: (b, 3, input_size, input_size) float -> (b, dim)."""
        ...


def features_root(root: str | Path | None = None) -> Path:
    """The cache root: ``root`` if given, else ``$STBENCH_FEATURES``, else ``data_root()/features``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else data_root() / "features"


def view_tiles(view: str) -> int:
    """Images per spot in ``view``: 1 for ``spot``, n*n for ``subtile<n>x<n>``.

    Raises:
        ValueError: ``view`` is not a known view.
    """
    if view == "spot":
        return 1
    match = _SUBTILE.fullmatch(view)
    if match is None or int(match.group(1)) < 1:
        raise ValueError(f"Unknown feature view {view!r}; use 'spot' or 'subtile<n>x<n>'.")
    return int(match.group(1)) ** 2


def encoder_key(encoder: FrozenEncoder) -> str:
    """Folder name of an encoder's features: ``<name>-<12 hex digits of its cache id>``."""
    digest = hashlib.sha256(f"v{FEATURES_VERSION}|{encoder.cache_id()}".encode()).hexdigest()
    return f"{_safe(encoder.name)}-{digest[:12]}"


class FeatureCache:
    """On-disk cache of frozen-encoder features, with hit/miss counters.

    One instance per root is enough (:func:`default_cache`); it also keeps each built encoder in
    memory so that many slides are encoded with one network. Thread-safe.

    Attributes:
        root: folder holding one sub-folder per encoder key.
        hits: feature arrays read from disk.
        misses: feature arrays computed (and written).
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = features_root(root)
        self.hits = 0
        self.misses = 0
        self._models: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def path(self, slide: Slide, encoder: FrozenEncoder, view: str = "spot", bf16: bool = False) -> Path:
        """Where ``slide``'s features for ``encoder`` and ``view`` live (whether or not present);
        ``bf16``: computed under bfloat16 autocast."""
        view_tiles(view)
        suffix = ("" if view == "spot" else f"-{view}") + ("-bf16" if bf16 else "")
        return self.root / encoder_key(encoder) / f"{_safe(slide.id)}-{slide.patch_key}{suffix}.npy"

    def get(
        self,
        slide: Slide,
        encoder: FrozenEncoder,
        *,
        view: str = "spot",
        batch_size: int = 256,
        device: str = "cpu",
        progress: Progress | None = None,
        bf16: bool = False,
        workers: int = 0,
    ) -> np.ndarray:
        """Features of every spot of ``slide``, read from the cache or computed and stored.

        Args:
            slide: the slide; only its patches are read.
            encoder: the frozen encoder.
            view: ``"spot"`` or ``"subtile<n>x<n>"``.
            batch_size: images per forward pass.
            device: torch device of the forward passes.
            progress: optional progress hook over the batches.
            bf16: bfloat16 autocast on a CUDA device (a CPU computes float32 whatever this says).
            workers: threads preparing the next batches (reading, cutting, resizing patches).

        Returns:
            float32 (n_spots, dim) for ``spot``; float32 (n_spots, n*n, dim) for sub-tiles,
            sub-tiles in row-major order.
        """
        tiles = view_tiles(view)
        shape = (slide.n_spots, encoder.dim) if tiles == 1 else (slide.n_spots, tiles, encoder.dim)
        bf16 = bf16 and str(device).startswith("cuda")
        cached = _load(self.path(slide, encoder, view, bf16), shape)
        if cached is not None:
            with self._lock:
                self.hits += 1
            return cached
        model = self._model(encoder, device)
        path = self.path(slide, encoder, view, bf16)  # again: building may have fetched the weights
        feats = _encode(slide, encoder, model, view, tiles, (batch_size, workers, bf16), device, progress)
        _save_atomic(path, feats.reshape(shape))
        _write_description(path.parent, encoder)
        with self._lock:
            self.misses += 1
        return feats.reshape(shape)

    def _model(self, encoder: FrozenEncoder, device: str) -> Any:
        key = (encoder_key(encoder), device)
        with self._lock:
            if key not in self._models:
                self._models[key] = encoder.build().to(device)
                # building may have downloaded the weights, resolving their identity: keep both keys
                self._models.setdefault((encoder_key(encoder), device), self._models[key])
            return self._models[key]


_DEFAULT: dict[Path, FeatureCache] = {}
_DEFAULT_LOCK = threading.Lock()


def default_cache() -> FeatureCache:
    """The process-wide cache for the current root (:func:`features_root` is read each call)."""
    root = features_root()
    with _DEFAULT_LOCK:
        if root not in _DEFAULT:
            _DEFAULT[root] = FeatureCache(root)
        return _DEFAULT[root]


def slide_features(
    slide: Slide,
    encoder: FrozenEncoder,
    *,
    view: str = "spot",
    batch_size: int = 256,
    device: str = "cpu",
    progress: Progress | None = None,
    cache: FeatureCache | None = None,
    bf16: bool = False,
    workers: int = 0,
) -> np.ndarray:
    """``slide``'s features through ``cache`` (default: :func:`default_cache`); see ``FeatureCache.get``."""
    cache = cache if cache is not None else default_cache()
    return cache.get(
        slide, encoder, view=view, batch_size=batch_size, device=device, progress=progress, bf16=bf16, workers=workers
    )


def data_features(
    data: SpotData,
    encoder: FrozenEncoder,
    *,
    view: str = "spot",
    batch_size: int = 256,
    device: str = "cpu",
    progress: Progress | None = None,
    cache: FeatureCache | None = None,
    bf16: bool = False,
    workers: int = 0,
) -> np.ndarray:
    """Features of every spot of ``data``, slide by slide (the order of ``data.expression()``).

    Returns:
        float32 (data.n_spots, dim) for ``spot``; float32 (data.n_spots, n*n, dim) for sub-tiles.
    """
    tiles = view_tiles(view)
    parts = [
        slide_features(
            slide, encoder, view=view, batch_size=batch_size, device=device, progress=progress, cache=cache,
            bf16=bf16, workers=workers,
        )
        for slide in data.slides
    ]
    if not parts:
        return np.zeros((0, encoder.dim) if tiles == 1 else (0, tiles, encoder.dim), np.float32)
    return np.concatenate(parts)


def _encode(
    slide: Slide,
    encoder: FrozenEncoder,
    model: Any,
    view: str,
    tiles: int,
    extraction: tuple[int, int, bool],
    device: str,
    progress: Progress | None,
) -> np.ndarray:
    """float32 (n_spots * tiles, dim): features of every image of the view, spot-major.
    ``extraction``: (images per forward pass, preparing threads, bfloat16 autocast)."""
    import torch

    batch_size, workers, bf16 = extraction
    spots_per_chunk = max(1, batch_size // tiles)
    starts = range(0, slide.n_spots, spots_per_chunk)

    def prepare(start: int) -> tuple[int, int, torch.Tensor]:
        rows = np.arange(start, min(start + spots_per_chunk, slide.n_spots))
        return start, len(rows), _view_images(slide.patches(rows), view, tiles, encoder.input_size)

    batches = _prefetched(prepare, starts, workers)
    if progress is not None:
        batches = progress(batches, f"{encoder.name} {view} features of {slide.id}", len(starts))
    mean = torch.tensor(encoder.mean, device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(encoder.std, device=device).view(1, 3, 1, 1) * 255
    out = np.empty((slide.n_spots * tiles, encoder.dim), np.float32)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16)
    with torch.inference_mode(), autocast:
        for start, n_rows, images in batches:
            x = (images.to(device).float() - mean) / std
            feats = model(x)
            if feats.shape[1:] != (encoder.dim,):
                raise RuntimeError(
                    f"Encoder {encoder.name} returned features of shape {tuple(feats.shape[1:])}, "
                    f"not ({encoder.dim},)."
                )
            out[start * tiles : (start + n_rows) * tiles] = feats.float().cpu().numpy()
    return out


def _prefetched(prepare: Callable[[int], T], starts: range, workers: int) -> Iterator[T]:
    """``prepare(start)`` for each start, in order; with ``workers`` > 0 that many threads run
    ahead (at most 2 x workers batches in memory)."""
    if workers <= 0:
        yield from map(prepare, starts)
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers, thread_name_prefix="stbench-features") as pool:
        pending: deque = deque()
        for start in starts:
            pending.append(pool.submit(prepare, start))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _view_images(patches: np.ndarray, view: str, tiles: int, size: int) -> torch.Tensor:
    """uint8 (k, 224, 224, 3) patches -> uint8 (k * tiles, 3, size, size) encoder inputs."""
    import torch
    import torch.nn.functional as F

    k = len(patches)
    if view == "spot":
        x = torch.from_numpy(np.ascontiguousarray(patches))
    else:
        n = int(round(tiles**0.5))
        side = PATCH_SIZE // n
        grid = np.ascontiguousarray(patches[:, : n * side, : n * side])
        grid = grid.reshape(k, n, side, n, side, 3).transpose(0, 1, 3, 2, 4, 5)
        x = torch.from_numpy(np.ascontiguousarray(grid).reshape(k * tiles, side, side, 3))
    x = x.permute(0, 3, 1, 2)  # channels-last memory: torch's fast uint8 resize path
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x


def _load(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The cached array when ``path`` holds float32 of ``shape``, else ``None``."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if arr.shape != shape or arr.dtype != np.float32:
        return None
    return arr


def _save_atomic(path: Path, arr: np.ndarray) -> None:
    """Write ``arr`` to ``path`` through a unique temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, arr, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_description(folder: Path, encoder: FrozenEncoder) -> None:
    target = folder / "encoder.txt"
    if target.exists():
        return
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".encoder-", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(f"features_version: {FEATURES_VERSION}\ncache_id: {encoder.cache_id()}\n")
    os.replace(tmp, target)


def _safe(name: str) -> str:
    """``name`` with every character outside [A-Za-z0-9._-] replaced by '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)
