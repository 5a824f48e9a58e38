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
_PRECISION = 22  # Pillow's fixed-point bits for 8-bit resampling


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


_COMPILED = None


def _kernel():
    """The resampling kernel, compiled on first use (and cached on disk by numba)."""
    global _COMPILED
    if _COMPILED is None:
        _COMPILED = _compile()
    return _COMPILED


def _compile():
    import numba

    half = 1 << (_PRECISION - 1)

    @numba.njit(cache=True, nogil=True)
    def coefficients(in_size, in0, in1, out_size):
        # Pillow's bilinear weights for output pixels 0..out_size-1 of the span [in0, in1):
        # first input pixel, number of taps and fixed-point weights of each output pixel.
        scale = np.float64(in1 - in0) / out_size  # the span in single precision, as Pillow
        filterscale = max(scale, 1.0)
        support = filterscale
        inverse = 1.0 / filterscale
        ksize = int(math.ceil(support)) * 2 + 1
        first = np.empty(out_size, np.int64)
        taps = np.empty(out_size, np.int64)
        weights = np.zeros((out_size, ksize), np.int32)
        raw = np.empty(ksize, np.float64)
        for xx in range(out_size):
            center = np.float64(in0) + (xx + 0.5) * scale
            lo = int(center - support + 0.5)  # truncation towards zero, as C's (int) cast
            if lo < 0:
                lo = 0
            hi = int(center + support + 0.5)
            if hi > in_size:
                hi = in_size
            count = hi - lo
            total = 0.0
            for t in range(count):
                d = abs((t + lo - center + 0.5) * inverse)
                w = 1.0 - d if d < 1.0 else 0.0
                raw[t] = w
                total += w
            for t in range(count):
                w = raw[t] / total if total != 0.0 else raw[t]
                weights[xx, t] = int(0.5 + w * (1 << _PRECISION)) if w >= 0 else int(-0.5 + w * (1 << _PRECISION))
            # taps of weight 0 add nothing: drop them at both ends (a third of the work upsampling)
            skip = 0
            while skip < count and weights[xx, skip] == 0:
                skip += 1
            while count > skip and weights[xx, count - 1] == 0:
                count -= 1
            for t in range(skip, count):
                weights[xx, t - skip] = weights[xx, t]
            first[xx] = lo + skip
            taps[xx] = count - skip
        return first, taps, weights

    @numba.njit(cache=True, nogil=True)
    def clip8(acc):
        v = acc >> _PRECISION
        return 0 if v < 0 else (255 if v > 255 else v)

    @numba.njit(cache=True, nogil=True)
    def horizontal(src_row, first, taps, weights, dst_row):
        # one row: dst_row[xx] = sum over taps of src_row[first[xx] + t] * weights[xx, t]
        for xx in range(dst_row.shape[0]):
            a0 = a1 = a2 = half
            base = first[xx]
            for t in range(taps[xx]):
                w = weights[xx, t]
                a0 += np.int32(src_row[base + t, 0]) * w
                a1 += np.int32(src_row[base + t, 1]) * w
                a2 += np.int32(src_row[base + t, 2]) * w
            dst_row[xx, 0] = clip8(a0)
            dst_row[xx, 1] = clip8(a1)
            dst_row[xx, 2] = clip8(a2)

    @numba.njit(cache=True, nogil=True)
    def vertical(src, top, left, first, taps, weights, dst):
        # dst[yy, q] = sum over taps of src[first[yy] - top + t, left + q] * weights[yy, t]
        m = dst.shape[1]
        acc = np.empty((m, 3), np.int32)
        for yy in range(dst.shape[0]):
            acc[:] = half
            for t in range(taps[yy]):
                w = weights[yy, t]
                row = src[first[yy] - top + t]
                for q in range(m):
                    for c in range(3):
                        acc[q, c] += np.int32(row[left + q, c]) * w
            for q in range(m):
                for c in range(3):
                    dst[yy, q, c] = clip8(acc[q, c])

    @numba.njit(cache=True, nogil=True)
    def vertical_rows(temp, top, first, taps, weights, dst):
        # vertical() over whole C-contiguous rows, as flat (x, channel) runs the compiler vectorises
        n = dst.shape[1] * 3
        rows = temp.reshape(temp.shape[0], n)
        flat = dst.reshape(dst.shape[0], n)
        acc = np.empty(n, np.int32)
        for yy in range(dst.shape[0]):
            acc[:] = half
            for t in range(taps[yy]):
                w = np.int32(weights[yy, t])
                row = rows[first[yy] - top + t]
                for j in range(n):
                    acc[j] += np.int32(row[j]) * w
            for j in range(n):
                flat[yy, j] = clip8(acc[j])

    @numba.njit(cache=True, nogil=True)
    def resample_one(src, box, out):
        # Pillow's resize of src (h, w, 3) to out's size over box (left, top, right, bottom)
        fh, fw = src.shape[0], src.shape[1]
        size_y, size_x = out.shape[0], out.shape[1]
        yfirst, ytaps, yweights = coefficients(fh, box[1], box[3], size_y)
        xfirst, xtaps, xweights = coefficients(fw, box[0], box[2], size_x)
        # Pillow (>= 13) resamples columns first when the frame's height shrinks more than
        # twice as much as its width, rows first otherwise
        if not (fh - size_y > 0 and fh - size_y > (fw - size_x) * 2):
            top = yfirst.min()
            temp = np.empty(((yfirst + ytaps).max() - top, size_x, 3), np.uint8)
            for r in range(temp.shape[0]):
                horizontal(src[top + r], xfirst, xtaps, xweights, temp[r])
            vertical_rows(temp, top, yfirst, ytaps, yweights, out)
        else:
            left = xfirst.min()
            temp = np.empty((size_y, (xfirst + xtaps).max() - left, 3), np.uint8)
            vertical(src, 0, left, yfirst, ytaps, yweights, temp)
            shifted = xfirst - left
            for yy in range(size_y):
                horizontal(temp[yy], shifted, xtaps, xweights, out[yy])

    @numba.njit(cache=True, nogil=True)
    def resample(pixels, frames, boxes, out):
        height, width = pixels.shape[0], pixels.shape[1]
        for i in range(out.shape[0]):
            ox, oy, fw, fh = frames[i, 0], frames[i, 1], frames[i, 2], frames[i, 3]
            if ox >= 0 and oy >= 0 and ox + fw <= width and oy + fh <= height:
                resample_one(pixels[oy : oy + fh, ox : ox + fw], boxes[i], out[i])
            else:  # a white canvas with the image's pixels that fall on it
                canvas = np.full((fh, fw, 3), 255, np.uint8)
                x0, y0 = max(ox, 0), max(oy, 0)
                x1, y1 = min(ox + fw, width), min(oy + fh, height)
                if x0 < x1 and y0 < y1:
                    canvas[y0 - oy : y1 - oy, x0 - ox : x1 - ox] = pixels[y0:y1, x0:x1]
                resample_one(canvas, boxes[i], out[i])

    return resample
