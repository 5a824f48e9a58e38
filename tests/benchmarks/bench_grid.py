"""The grid's executors, measured: ``--jobs 2`` against ``--jobs 1``, and SLURM's overhead per cell.

1. Wall time of one grid in-process (``--jobs 1``) and with two worker processes (``--jobs 2``),
   each into a fresh results folder (the cohort is prepared before timing).
2. SLURM overhead per cell: for a job array of ``mean`` cells, seconds from submission to each
   cell's first log line (needs a cluster: ``make slurm-up``; skipped without one).
3. The paper grid's GPU-hours per cohort, estimated from the cohorts' spot counts and assumed
   throughputs (printed with the assumptions).

    python tests/benchmarks/bench_grid.py                               # demo subset (see --help)
    python tests/benchmarks/bench_grid.py --models mean,ridge,stnet --folds 0,1 --slides 12

4. ``--phases``: where the time of the named demo grid goes, per model and phase (patch reading,
   colour standardisation, loader, augmentation, forward/backward, optimiser, metrics,
   clustering, I/O; ``grid_phases.py`` defines them), the cells run in this process in the grid's
   order on the prepared ``demo`` cohort under ``$STBENCH_DATA`` (prepared first if needed):

    STBENCH_DATA=/tmp/demo-data python tests/benchmarks/bench_grid.py --phases --models all --folds 0
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

# the six paper cohorts: spots before QC (REFERENCE.md, from the HEST / STImage metadata tables)
SPOTS = {
    "hest-st-breast": 45_306, "hest-st-brain": 37_219, "hest-st-spinal": 74_107,
    "hest-visium-skin": 99_052, "stimage-st-breast": 45_306, "stimage-visium-brain": 775_218,
}
# assumed paper-profile throughputs on one H200 (images/s; not yet measured: `make gpu-check` will)
TRAIN_RESNET50 = 3000.0  # GenST / BLEEP / CLIP training, bf16, channels-last, 224 px (the goal)
TRAIN_DENSENET121 = 2000.0  # ST-Net, batch 32
VIT_L16_EXTRACT = 1500.0  # UNI-shaped feature extraction, bf16, 224 px
PATCH_READ = 3000.0  # patches read and resized per second (HisToGene's inputs)
STEM_SECONDS_PER_SPOT = 3.0  # Stem's 20 samples x 1,000 DDPM steps of a 12-layer DiT over 1,000 gene tokens
EPOCHS = 100  # every paper profile's maximum (early stopping usually ends sooner), ST-Net's included
FOLDS = 5
TRIPLEX_TRAINING_HOURS = {
    "hest-st-breast": 0.34, "hest-st-brain": 0.25, "hest-st-spinal": 0.49,
    "hest-visium-skin": 2.38, "stimage-st-breast": 0.34, "stimage-visium-brain": 113.16,
}
"""TRIPLEX's training, 5 folds (baselines/README.md: each step re-encodes whole training slides
with its global encoder, so the cost grows with the square of the spots per slide)."""


def gpu_hours(spots: int, cohort: str | None = None) -> dict[str, float]:
    """GPU-hours of the whole cohort (5 folds) per model, from the assumptions above.

    Per fold: training images = 70% of the spots per epoch, validation 10% (forward only, counted
    at 3x the training rate), test 20%. Feature models extract once per spot and fold."""
    train, val, test = 0.7 * spots, 0.1 * spots, 0.2 * spots
    uni = spots / VIT_L16_EXTRACT
    per_fold = {
        "genst": EPOCHS * (train / TRAIN_RESNET50 + val / (3 * TRAIN_RESNET50)) + test / (3 * TRAIN_RESNET50),
        "bleep": EPOCHS * (train / TRAIN_RESNET50 + val / (3 * TRAIN_RESNET50)) + spots / (3 * TRAIN_RESNET50),
        "clip": EPOCHS * (train / TRAIN_RESNET50 + val / (3 * TRAIN_RESNET50)) + spots / (3 * TRAIN_RESNET50),
        "stnet": EPOCHS * (train / TRAIN_DENSENET121 + val / (3 * TRAIN_DENSENET121)),
        "deepspot": 10 * uni,  # the spot and its 3x3 sub-tiles; neighbours reuse
        "uni-mlp": uni,
        "ridge": uni,
        "hest-probe": uni,
        "triplex": 10 * uni + 3600 / FOLDS * TRIPLEX_TRAINING_HOURS.get(cohort, 0.0),  # + spot, 3x3 sub-tile features
        "histogene": spots / PATCH_READ,  # its ViT over a slide's patches is small next to reading them
        "stflow": uni,  # its flow over the frozen features trains in minutes
        "stem": uni + STEM_SECONDS_PER_SPOT * test,  # sampling dominates
    }
    return {m: FOLDS * s / 3600 for m, s in per_fold.items()}


def timed_run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def first_log_seconds(results: Path, submitted: float) -> list[float]:
    """Seconds from ``submitted`` (epoch) to each cell's first log line."""
    out = []
    for log in results.glob("*/*/fold*/log.txt"):
        m = re.match(r"\[(.+?)\]", log.read_text())
        if m:
            out.append(datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").timestamp() - submitted)
    return sorted(out)


def phases(models: str, folds: str, profile: str) -> None:
    """Run the ``demo`` grid in this process with the phase timers (``grid_phases.py``) and print
    seconds and the share of each phase per model, the grid's total, and the launcher's time."""
    from collections import defaultdict

    from grid_phases import PHASES, PhaseTimer, install

    from stbench import registry
    from stbench.cli import main as stbench_main
    from stbench.grid import cell

    names = list(registry.available()) if models == "all" else models.split(",")
    classes = [registry.get_predictor_class(n) for n in names]  # imported before timing
    stbench_main(["data", "prepare", "--cohort", "demo"])
    timer = PhaseTimer()
    install(timer, classes)
    per_model: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    cells = defaultdict(int)
    run_cell = cell.run

    def timed_cell(spec, *args, **kwargs):
        timer.take()
        timer.enter("cell-other")
        try:
            return run_cell(spec, *args, **kwargs)
        finally:
            timer.exit()
            for phase, seconds in timer.take().items():
                per_model[spec.model][phase] += seconds
            cells[spec.model] += 1

    cell.run = timed_cell
    results = Path(tempfile.mkdtemp(prefix="stbench-bench-phases-"))
    try:
        t0 = time.perf_counter()
        stbench_main(["run", "--model", models, "--cohort", "demo", "--folds", folds, "--profile", profile,
                      "--results", str(results)])
        wall = time.perf_counter() - t0
    finally:
        shutil.rmtree(results, ignore_errors=True)
    used = [p for p in PHASES if any(per_model[m].get(p, 0) > 0 for m in per_model)]
    print(f"\ndemo grid, profile {profile}, folds {folds}: {sum(cells.values())} cells in {wall:.1f} s wall "
          f"(cells {sum(sum(v.values()) for v in per_model.values()):.1f} s); per model: seconds, then % of them by phase")
    print("| model | cells | s | " + " | ".join(used) + " |")
    print("|---|---|---|" + "---|" * len(used))
    for model, secs in per_model.items():
        total = sum(secs.values())
        print(f"| {model} | {cells[model]} | {total:.1f} | "
              + " | ".join(f"{100 * secs.get(p, 0) / total:.0f}" for p in used) + " |")
    grand = {p: sum(per_model[m].get(p, 0) for m in per_model) for p in used}
    total = sum(grand.values())
    print(f"| all | {sum(cells.values())} | {total:.1f} | " + " | ".join(f"{100 * grand[p] / total:.0f}" for p in used) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mean,ridge", help="models of the grid (default: mean,ridge)")
    parser.add_argument("--folds", default="0,1,2", help="folds of the grid (default 0,1,2)")
    parser.add_argument("--slides", type=int, default=6, help="demo slides (default 6; the full demo has 12)")
    parser.add_argument("--slurm-cells", type=int, default=4, help="mean cells in the SLURM array (0: skip)")
    parser.add_argument("--skip-local", action="store_true", help="measure only the SLURM overhead")
    parser.add_argument("--phases", action="store_true",
                        help="time the phases of the demo grid's cells per model (see the docstring) and stop")
    parser.add_argument("--profile", default="small", help="--phases: the profile (default small)")
    args = parser.parse_args()
    if args.phases:
        phases(args.models, args.folds, args.profile)
        return

    from stbench.data.demo import generate_demo

    stbench = [str(Path(sys.executable).parent / "stbench")]
    work = Path(tempfile.mkdtemp(prefix="stbench-bench-grid-"))
    try:
        cohort = generate_demo(work / "cohort", n_slides=args.slides, genes=1000)
        base = [*stbench, "run", "--model", args.models, "--cohort", str(cohort), "--folds", args.folds]
        timed_run([*base, "--model", "mean", "--folds", "0", "--results", str(work / "warm")])  # prepare once
        n_cells = len(args.models.split(",")) * len(args.folds.split(","))
        print(f"grid: {args.models} x folds {args.folds} on a {args.slides}-slide demo cohort ({n_cells} cells)")
        for jobs in () if args.skip_local else (1, 2):
            shutil.copytree(work / "warm", work / f"j{jobs}")  # the split, not the results
            for p in (work / f"j{jobs}").glob("*/mean"):
                shutil.rmtree(p)
            seconds = timed_run([*base, "--jobs", str(jobs), "--results", str(work / f"j{jobs}")])
            print(f"  --jobs {jobs}: {seconds:7.1f} s wall")
        if args.slurm_cells and shutil.which("sbatch"):
            folds = ",".join(str(k) for k in range(min(args.slurm_cells, 5)))
            submitted = time.time()
            timed_run([*stbench, "run", "--model", "mean", "--cohort", str(cohort), "--folds", folds,
                       "--results", str(work / "slurm"), "--executor", "slurm", "--wait",
                       "--slurm-cpus-per-cell", "1"])
            waits = first_log_seconds(work / "slurm", submitted)
            print(f"SLURM: {len(waits)} cells, submission to first log line: "
                  + ", ".join(f"{w:.1f}" for w in waits) + " s (the worker's first line; log lines have 1 s resolution)")
        else:
            print("SLURM: skipped (no sbatch; run 'make slurm-up')")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print("\npaper grid, estimated GPU-hours on one H200 (5 folds, paper profiles; assumptions in this file)")
    models = list(gpu_hours(1))
    print("| cohort | spots | " + " | ".join(models) + " | total |")
    print("|---|---|" + "---|" * (len(models) + 1))
    for name, spots in SPOTS.items():
        h = gpu_hours(spots, name)
        print(f"| {name} | {spots:,} | " + " | ".join(f"{h[m]:.2f}" for m in models) + f" | {sum(h.values()):.0f} |")


if __name__ == "__main__":
    main()
