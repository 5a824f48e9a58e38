"""Spot patches cut from a whole-slide image in bulk: decode once, crop and resize in native code.

A spot's patch is the square (x - r, y - r, x + r, y + r) of the image (full-resolution px),
white where it leaves the image, resized to ``size`` x ``size`` px with Pillow's bilinear filter.
The pixels are exactly those of Pillow 13's ``Image.resize(size, BILINEAR, box=...)``, which
stbench called once per spot before: separable two-pass resampling in 22-bit fixed point, the
box's corners in single precision, columns first when the frame's height shrinks more than twice
as much as its width (older Pillow always went rows first), and an overhanging square resampled
on a white canvas cut at the integer pixels around it. So patch files keep their bytes
(``tests/test_data_output_bytes.py``), now whatever Pillow is installed. The resampling runs in a
numba kernel that releases the GIL, over blocks of spots on a pool of threads, while the caller
writes finished blocks.

Memory: the decoded image as uint8 (H, W, 3) (briefly beside Pillow's copy while it is read) and
a few blocks of ``block`` patches.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from stbench.data.spots import PATCH_SIZE
from stbench.errors import StbenchError

BLOCK = 512
"""Patches resampled per task (512 x 147 KB = 77 MB)."""
_STRIP_ROWS = 1024  # image rows copied out of Pillow at a time


def load_image(path: Path) -> Image.Image:
    """An H&E image as RGB, whatever its file format (extension ignored; no pixel cap)."""
    cap = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        image = Image.open(path)
        image.load()
    except (OSError, SyntaxError) as exc:
        raise StbenchError(f"Image {path} cannot be read ({exc}).") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = cap
    if image.mode != "RGB":
        image = image.convert("RGB")
    return image


def image_array(path: Path, *, workers: int | None = None) -> np.ndarray:
    """The image at ``path`` decoded once: uint8 (H, W, 3) RGB, copied out of Pillow in strips of
    rows by ``workers`` threads (default: the CPUs this process may use), so that only a few
    strips exist twice."""
    image = load_image(path)
    width, height = image.size
    pixels = np.empty((height, width, 3), np.uint8)

    def copy(top: int) -> None:
        bottom = min(top + _STRIP_ROWS, height)
        pixels[top:bottom] = np.asarray(image.crop((0, top, width, bottom)))

    with ThreadPoolExecutor(max_workers=workers or _cpus()) as pool:
        list(pool.map(copy, range(0, height, _STRIP_ROWS)))
    image.close()
    return pixels


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


def spot_frames(pixels: np.ndarray, xyr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each spot is resampled from: the whole image when its square lies inside, else a
    white canvas over the integer pixels around the square.

    Args:
        pixels: the image, uint8 (H, W, 3).
        xyr: float64 (n, 3) spot centres x, y and radii r, full-resolution px.

    Returns:
        frames int64 (n, 4): the frame's origin in the image (x0, y0) and its width and height;
        boxes float32 (n, 4): the square (left, top, right, bottom) in frame coordinates.
    """
    height, width = pixels.shape[:2]
    frames = np.empty((len(xyr), 4), np.int64)
    boxes = np.empty((len(xyr), 4), np.float32)
    for i, (x, y, r) in enumerate(xyr.tolist()):
        box = (x - r, y - r, x + r, y + r)
        ix0, iy0, ix1, iy1 = math.floor(box[0]), math.floor(box[1]), math.ceil(box[2]), math.ceil(box[3])
        if ix0 >= 0 and iy0 >= 0 and ix1 <= width and iy1 <= height:
            frames[i] = (0, 0, width, height)
            boxes[i] = box
        else:
            frames[i] = (ix0, iy0, ix1 - ix0, iy1 - iy0)
            boxes[i] = (box[0] - ix0, box[1] - iy0, box[2] - ix0, box[3] - iy0)
    return frames, boxes


def crop_spot(image: Image.Image | np.ndarray, x: float, y: float, r: float, size: int = PATCH_SIZE) -> np.ndarray:
    """One spot's patch (see the module docstring): uint8 (size, size, 3)."""
    pixels = np.ascontiguousarray(np.asarray(image, dtype=np.uint8)[..., :3])
    frames, boxes = spot_frames(pixels, np.array([[x, y, r]], np.float64))
    out = np.empty((1, size, size, 3), np.uint8)
    _kernel()(pixels, frames, boxes, out)
    return out[0]


def patch_blocks(pixels: np.ndarray, xyr: np.ndarray, *, block: int = BLOCK, workers: int | None = None) -> Iterator[np.ndarray]:
    """Every spot's patch, in spot order, as blocks of ``block`` patches: uint8 (<= block, 224, 224, 3).

    ``workers`` threads (default: the CPUs this process may use) resample blocks ahead of the
    consumer, at most two blocks per thread in flight, so memory stays a few blocks.
    """
    frames, boxes = spot_frames(pixels, xyr)
    kernel = _kernel()
    n = len(xyr)
    workers = workers or _cpus()

    def work(start: int) -> np.ndarray:
        stop = min(start + block, n)
        out = np.empty((stop - start, PATCH_SIZE, PATCH_SIZE, 3), np.uint8)
        kernel(pixels, frames[start:stop], boxes[start:stop], out)
        return out

    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque = deque()
        starts = iter(range(0, n, block))
        for start in starts:
            pending.append(pool.submit(work, start))
            if len(pending) >= 2 * workers:
                break
        while pending:
            done = pending.popleft().result()
            nxt = next(starts, None)
            if nxt is not None:
                pending.append(pool.submit(work, nxt))
            yield done


def _kernel():
    """The resampling kernel (:mod:`stbench.data.resample`; numba compiles it on first use and
    caches it on disk, so importing this module stays cheap)."""
    from stbench.data.resample import resample

    return resample
