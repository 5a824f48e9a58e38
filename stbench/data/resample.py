"""Pillow's bilinear box resampling of uint8 RGB images, exactly, in numba (the kernel of
:mod:`stbench.data.crops`, which describes what it computes). Compiled on first use and cached
on disk by numba; every function releases the GIL."""

from __future__ import annotations

import math

import numba
import numpy as np

_PRECISION = 22  # Pillow's fixed-point bits for 8-bit resampling
_HALF = 1 << (_PRECISION - 1)  # rounding: half of the last fixed-point unit


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
        a0 = a1 = a2 = _HALF
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
        acc[:] = _HALF
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
        acc[:] = _HALF
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
def resample(pixels: np.ndarray, frames: np.ndarray, boxes: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out`` uint8 (n, S, S, 3) with spot ``i``'s square resampled from its frame.

    ``pixels`` uint8 (H, W, 3) is the image; ``frames`` int64 (n, 4) each frame's origin in the
    image and its width and height (outside the image a frame is white); ``boxes`` float32 (n, 4)
    the square (left, top, right, bottom) in frame px (:func:`stbench.data.crops.spot_frames`).
    """
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
