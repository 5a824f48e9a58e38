"""Peak memory and patch throughput of preparing one large STImage slide (not run in CI).

    python tests/benchmarks/bench_prepare.py [--spots 20000] [--genes 30000] [--image-px 20000]

Writes a synthetic STImage-layout slide (a JPEG saved as .png, as in STImage-1K4M; a count csv
of spots x genes with ~10% non-zeros; a Visium-like grid of spots with r = 55 px) into a work
folder, then runs, each in a fresh child process:

1. patch extraction alone (``stimage.write_patches``: decoding the image, cutting and resizing
   every spot, writing the h5), ``--repeats`` times: patches per second of wall time and per
   CPU-second (user + system, all threads; steadier than wall time on a busy machine), peak RSS;
2. the whole preparation (``prepare_cohort`` on the directory: csv -> h5ad conversion, patch
   extraction, both passes over the slide): wall and CPU time, peak RSS (the target is < 4 GB).

The figures measured, before and after, are in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PEAK_RSS = """
import resource
def cpu_seconds():  # this process's user + system CPU time, all threads (robust to a busy machine)
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
def peak_rss_mb():  # VmHWM: this process's own high-water mark (ru_maxrss would include the parent's)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""

CHILD_PATCHES = PEAK_RSS + """
import json, sys, time
from pathlib import Path
from stbench.data import stimage
d, out = Path(sys.argv[1]), Path(sys.argv[2])
coords = stimage.read_coords(d / "Visium" / "coord" / "BENCH_coord.csv")
try:  # compile (or load from numba's cache) the resampling kernel before the clock starts
    from stbench.data import crops
    crops.crop_spot(__import__("numpy").zeros((8, 8, 3), "uint8"), 4.0, 4.0, 2.0)
except ImportError:  # a checkout from before stbench.data.crops
    pass
t0, c0 = time.perf_counter(), cpu_seconds()
stimage.write_patches(d / "Visium" / "image" / "BENCH.png", coords, out)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds() - c0, "patches": len(coords),
                  "peak_rss_mb": peak_rss_mb()}))
"""

CHILD_PREPARE = PEAK_RSS + """
import json, sys, time
from pathlib import Path
from stbench.data.prepare import prepare_cohort
t0, c0 = time.perf_counter(), cpu_seconds()
out = prepare_cohort(sys.argv[1], Path(sys.argv[2]), force=True)
seconds = time.perf_counter() - t0
m = json.loads((out / "manifest.json").read_text())
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds() - c0, "n_genes": m["n_genes"], "n_spots": m["n_spots"],
                  "peak_rss_mb": peak_rss_mb()}))
"""


def write_slide(directory: Path, n_spots: int, n_genes: int, image_px: int, seed: int = 0) -> None:
    """A one-slide STImage directory (tech Visium, slide BENCH)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    base = directory / "Visium"
    for sub in ("image", "coord", "gene_exp"):
        (base / sub).mkdir(parents=True, exist_ok=True)

    tile = rng.integers(40, 230, size=(512, 512, 3), dtype=np.uint8)
    reps = -(-image_px // 512)
    image = np.tile(tile, (reps, reps, 1))[:image_px, :image_px]
    Image.fromarray(image).save(base / "image" / "BENCH.png", format="JPEG", quality=90)
    del image

    side = int(np.ceil(np.sqrt(n_spots)))
    step = image_px / (side + 1)
    k = np.arange(n_spots)
    x, y = step * (1 + k % side), step * (1 + k // side)
    ids = [f"BENCH_{i:05d}" for i in range(n_spots)]
    with open(base / "coord" / "BENCH_coord.csv", "w") as fh:
        fh.write(",yaxis,xaxis,r\n")
        fh.writelines(f"{s},{yy:.2f},{xx:.2f},55.0\n" for s, xx, yy in zip(ids, x, y))

    # counts 0..9 so each value is one character: rows are assembled as bytes, fast
    with open(base / "gene_exp" / "BENCH_count.csv", "wb") as fh:
        fh.write(("," + ",".join(f"GENE{j:05d}" for j in range(n_genes)) + "\n").encode())
        for start in range(0, n_spots, 500):
            rows = min(500, n_spots - start)
            values = np.where(rng.random((rows, n_genes)) < 0.1, rng.integers(1, 9, (rows, n_genes)), 0)
            values[:, 0] += 1
            text = np.full((rows, 2 * n_genes), ord(","), np.uint8)
            text[:, 0::2] = values + ord("0")
            text[:, -1] = ord("\n")
            for i in range(rows):
                fh.write(f"{ids[start + i]},".encode())
                fh.write(text[i].tobytes())


def run_child(code: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spots", type=int, default=20000)
    parser.add_argument("--genes", type=int, default=30000)
    parser.add_argument("--image-px", type=int, default=20000)
    parser.add_argument("--workdir", help="keep the generated slide here (default: a temporary folder)")
    parser.add_argument("--repeats", type=int, default=3, help="patch extraction runs (the machine may be busy)")
    parser.add_argument("--skip-prepare", action="store_true", help="time patch extraction only")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="stbench-bench-") as tmp:
        work = Path(args.workdir) if args.workdir else Path(tmp)
        cohort = work / "cohort"
        if not (cohort / "Visium" / "gene_exp" / "BENCH_count.csv").is_file():
            t0 = time.perf_counter()
            write_slide(cohort, args.spots, args.genes, args.image_px)
            print(f"generated {args.spots} spots x {args.genes} genes, {args.image_px}^2 px image "
                  f"in {time.perf_counter() - t0:.0f} s")
        for _ in range(args.repeats):
            crop = run_child(CHILD_PATCHES, str(cohort), str(work / "patches.h5"))
            print(f"patch extraction: {crop['patches']} patches in {crop['seconds']:.1f} s = "
                  f"{crop['patches'] / crop['seconds']:.0f} patches/s ({crop['cpu_seconds']:.1f} CPU-s, "
                  f"{crop['patches'] / crop['cpu_seconds']:.0f} patches per CPU-s), "
                  f"peak RSS {crop['peak_rss_mb'] / 1024:.2f} GB")
        if args.skip_prepare:
            return
        full = run_child(CHILD_PREPARE, str(cohort), str(work / "root"))
        print(f"full prepare: {full['n_spots']} spots, {full['n_genes']} panel genes in {full['seconds']:.0f} s "
              f"({full['cpu_seconds']:.0f} CPU-s), peak RSS {full['peak_rss_mb'] / 1024:.2f} GB")


if __name__ == "__main__":
    main()
