"""``make gpu-check``: the GPU figures of stbench, in one prepared run (at most ~8 minutes on one H200).

Prints a table and, when ``$OUT`` is set (or ``--json PATH``), writes the same rows as JSON to
``$OUT/gpu_check.json``. Rows:

1. ``cuda-tests``: the CUDA tests of the suite (``tests/test_metrics_torch.py``, ``tests/test_torchkit.py``).
2. ``genst-train-synthetic``: GenST paper-profile training steps (ResNet-50, 224 px, batch 256,
   bf16 autocast, channels-last) on synthetic tensors already on the GPU: images/s (goal >= 3,000).
3. ``genst-train-loader``: the same steps fed by the real loader (``train_loader`` on the demo
   cohort: 224 px uint8 patches read from disk by the loader's workers, the paper augmentations
   applied to whole batches on the GPU by ``BatchAugment``): images/s, and its ratio to (2)
   (goal >= 0.90).
4. ``extract:<encoder>``: feature extraction through the encoder registry (``stbench.encoders``)
   with random weights, for three sizes: ``h0-mini`` (ViT-B/14, 86M), ``uni`` (ViT-L/16, 303M),
   ``h-optimus-0`` (ViT-g/14, 1.1B); synthetic 224 px images, bf16 autocast, batch 256:
   images/s (the pooled features, as the feature cache computes them).
5. ``fold:<model>``: one demo fold of every registered model with ``--profile paper --device
   cuda``. No weights can be downloaded there, so the run uses ``--set pretrained=false``
   (random ImageNet-architecture backbones), ``--set encoder="uni-small-random"`` for the
   feature models (UNI is gated; row 4 measures UNI's shape), and caps training at 2 epochs
   (``--set epochs=2``): the row checks that the paper profile runs on CUDA and records the
   seconds and peak GPU memory, not the paper's accuracy. (Row 4 measures the real encoders' shapes.)
6. ``metrics-cuda-vs-numpy``: the regression metrics of 100,000 spots x 5,000 genes with the
   torch engine on the GPU and the NumPy engine: seconds of each, and their largest difference.

``--dry-run`` runs every row tiny on the CPU (GenST's ``small`` configuration, one-block 48-d
versions of the three encoders, a 6-slide cohort, the ``mean`` model only, the torch engine on
the CPU), to check the script itself; a test exercises it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _genst(n_genes: int, device, tiny: bool):
    """GenST in training mode with its optimizer: the paper profile (the small one when tiny)."""
    import torch

    from genst.config import PAPER, SMALL
    from genst.modules import GenSTModel
    from stbench.torchkit.training import prepare_model

    cfg = replace(SMALL if tiny else PAPER, pretrained=False)
    torch.manual_seed(0)
    model = prepare_model(GenSTModel(n_genes, cfg), device).train()
    optimizer = torch.optim.RAdam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return cfg, model, optimizer


def _train_step(cfg, model, optimizer, images, expression, device) -> None:
    from genst.losses import genst_loss, genst_loss_terms
    from stbench.torchkit.training import autocast

    with autocast(device):
        loss = genst_loss(genst_loss_terms(model(images, expression), images, expression), cfg)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def check_genst_synthetic(ctx: dict) -> dict:
    import torch

    device, tiny = ctx["device"], ctx["tiny"]
    batch, steps, warmup, genes = (2, 1, 1, 50) if tiny else (256, 30, 5, 8000)
    cfg, model, optimizer = _genst(genes, device, tiny)
    images = torch.randn(batch, 3, cfg.image_size, cfg.image_size, device=device)
    images = images.contiguous(memory_format=torch.channels_last)
    expression = torch.rand(batch, genes, device=device) * 3
    for _ in range(warmup):
        _train_step(cfg, model, optimizer, images, expression, device)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        _train_step(cfg, model, optimizer, images, expression, device)
    _sync(device)
    rate = batch * steps / (time.perf_counter() - t0)
    ctx["synthetic_rate"] = rate
    return {"figure": round(rate, 2), "unit": "images/s", "ok": tiny or rate >= 3000,
            "note": f"batch {batch}, {genes} genes, goal >= 3,000"}


def _demo_cohort(ctx: dict):
    from stbench.data.prepare import prepare_and_load

    if "cohort" not in ctx:
        if ctx["tiny"]:
            from stbench.data.demo import generate_demo

            path = generate_demo(Path(ctx["work"]) / "tiny", n_slides=6, genes=300)
            ctx["cohort_arg"] = str(path)
        else:
            ctx["cohort_arg"] = "demo"
        ctx["cohort"] = prepare_and_load(ctx["cohort_arg"], None)
    return ctx["cohort"]


def check_genst_loader(ctx: dict) -> dict:
    from stbench.torchkit.data import train_loader

    device, tiny = ctx["device"], ctx["tiny"]
    cohort = _demo_cohort(ctx)
    data = cohort.spotdata([s.id for s in cohort.slides])
    batch, steps, warmup = (2, 1, 1) if tiny else (256, 30, 5)
    cfg, model, optimizer = _genst(len(cohort.genes), device, tiny)
    loader = train_loader(data, image_size=cfg.image_size, augment=cfg.augment, preload=False,
                          batch_size=batch, device=device)
    done, t0 = 0, None
    while done < warmup + steps:
        for images, expression in loader:  # on the device, augmented, channels-last
            _train_step(cfg, model, optimizer, images, expression, device)
            done += 1
            if done == warmup:
                _sync(device)
                t0 = time.perf_counter()
            if done == warmup + steps:
                break
    _sync(device)
    rate = batch * steps / (time.perf_counter() - t0)
    ratio = rate / ctx["synthetic_rate"] if ctx.get("synthetic_rate") else float("nan")
    return {"figure": round(rate, 1), "unit": "images/s", "ok": tiny or ratio >= 0.9,
            "note": f"{ratio:.2f} of the synthetic rate (goal >= 0.90); {len(data.slides)} demo slides, "
                    f"{os.cpu_count()} CPUs"}


EXTRACT_ENCODERS = ("h0-mini", "uni", "h-optimus-0")
"""Row 4: a ViT-B, a ViT-L and a ViT-g of the encoder registry."""


def check_extract(name: str) -> Callable[[dict], dict]:
    """Row 4 for the registry's encoder ``name``: images/s of (b, 3, 224, 224) -> (b, dim)."""

    def check(ctx: dict) -> dict:
        import dataclasses

        import torch

        from stbench.encoders import encoder_info
        from stbench.torchkit.training import autocast

        device, tiny = ctx["device"], ctx["tiny"]
        cfg = encoder_info(name)
        if tiny:  # all three pool the class token: dim = embed_dim
            cfg = dataclasses.replace(cfg, arch_kwargs={**cfg.arch_kwargs, "depth": 1, "embed_dim": 48, "num_heads": 2},
                                      dim=48)
        batch, steps, warmup = (2, 1, 1) if tiny else (256, 20, 3)
        with torch.device(device):  # random init on the GPU itself (a 1.1B ViT-g inits in seconds there)
            model = cfg.build(pretrained=False)
        images = torch.randn(batch, 3, 224, 224, device=device)
        with torch.inference_mode(), autocast(device):
            for _ in range(warmup):
                out = model(images)
            _sync(device)
            t0 = time.perf_counter()
            for _ in range(steps):
                out = model(images)
            _sync(device)
        rate = batch * steps / (time.perf_counter() - t0)
        params = sum(p.numel() for p in model.parameters())
        return {"figure": round(rate, 1), "unit": "images/s", "ok": tuple(out.shape) == (batch, cfg.dim),
                "note": f"{cfg.arch}, {params / 1e6:.0f}M parameters, random weights, {cfg.dim}-d, batch {batch}"}

    return check


def demo_fold_rows(ctx: dict) -> list[tuple[str, dict]]:
    """One demo fold of every model through ``stbench run`` (paper profile on CUDA)."""
    from stbench import registry
    from stbench.results.document import iter_results

    tiny = ctx["tiny"]
    _demo_cohort(ctx)
    models = ["mean"] if tiny else list(registry.available())
    profile = "small" if tiny else "paper"
    sets: list[str] = []
    keys = set()
    for m in models:
        keys |= set(registry.get_predictor_class(m).profiles.get(profile, {}))
    for key, value in (("pretrained", "false"), ("encoder", '"uni-small-random"'), ("epochs", "2")):
        if key in keys:
            sets += ["--set", f"{key}={value}"]
    results = Path(ctx["work"]) / "results"
    cmd = [str(Path(sys.executable).parent / "stbench"), "run", "--model", ",".join(models), "--cohort",
           ctx["cohort_arg"], "--folds", "0", "--profile", profile, "--device", str(ctx["device"]),
           "--results", str(results), *sets]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    docs = {r.model: r.document for r in iter_results(results)}
    rows = []
    for m in models:
        doc = docs.get(m)
        if doc is None:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            rows.append((f"fold:{m}", {"figure": None, "unit": "s", "ok": False, "note": f"failed: {tail}"}))
            continue
        res = doc.get("resources", {})
        rows.append((f"fold:{m}", {
            "figure": round(doc["timings"].get("total", doc["timings"]["fit"]), 1), "unit": "s", "ok": True,
            "note": f"pearson_gene {doc['metrics'].get('pearson_gene', float('nan')):.3f}, "
                    f"peak GPU {res.get('peak_gpu_mb')} MiB, {' '.join(sets[1::2])}",
        }))
    return rows


def check_metrics(ctx: dict) -> dict:
    import numpy as np

    from stbench.metrics import RegressionAccumulator

    tiny = ctx["tiny"]
    spots, genes = (2000, 300) if tiny else (100_000, 5_000)
    engine = "torch-cpu" if tiny else "cuda"
    rng = np.random.default_rng(0)
    y_true = np.log1p(rng.gamma(0.5, 2.0, (spots, genes))).astype(np.float32)
    y_pred = (y_true + rng.normal(0, 0.3, y_true.shape)).astype(np.float32)
    seconds, values = {}, {}
    for name, device in (("numpy", None), (engine, engine)):
        t0 = time.perf_counter()
        acc = RegressionAccumulator(genes, device=device)
        for start in range(0, spots, 4096):
            acc.update(y_true[start:start + 4096], y_pred[start:start + 4096])
        values[name] = acc.compute()
        seconds[name] = time.perf_counter() - t0
    diff = max(abs(values["numpy"][k] - values[engine][k]) for k in values["numpy"])
    return {"figure": round(seconds["numpy"] / seconds[engine], 2), "unit": "x numpy", "ok": diff < 1e-6,
            "note": f"{spots:,} x {genes:,}: numpy {seconds['numpy']:.2f} s, {engine} {seconds[engine]:.2f} s, "
                    f"max difference {diff:.1e}"}


def check_cuda_tests(ctx: dict) -> dict:
    files = ["tests/test_metrics_torch.py", "tests/test_torchkit.py"]
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files]
    if ctx["tiny"]:
        cmd.append("--collect-only")
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    summary = (proc.stdout.strip().splitlines() or ["no output"])[-1]
    return {"figure": proc.returncode, "unit": "exit status", "ok": proc.returncode == 0, "note": summary}


CHECKS: list[tuple[str, Callable[[dict], dict]]] = [
    ("cuda-tests", check_cuda_tests),
    ("genst-train-synthetic", check_genst_synthetic),
    ("genst-train-loader", check_genst_loader),
    *((f"extract:{name}", check_extract(name)) for name in EXTRACT_ENCODERS),
    ("metrics-cuda-vs-numpy", check_metrics),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="every row tiny, on the CPU (checks the script)")
    parser.add_argument("--json", help="write the rows here (default: $OUT/gpu_check.json when $OUT is set)")
    args = parser.parse_args(argv)

    import torch
    from rich.console import Console
    from rich.table import Table

    if not args.dry_run and not torch.cuda.is_available():
        print("gpu-check: torch sees no CUDA GPU; use --dry-run to check the script on a CPU.", file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix="stbench-gpu-check-")
    os.environ.setdefault("STBENCH_DATA", str(Path(work) / "data"))
    ctx = {"device": torch.device("cpu" if args.dry_run else "cuda"), "tiny": args.dry_run, "work": work}
    rows: list[dict] = []

    def record(name: str, started: float, row: dict) -> None:
        rows.append({"check": name, **row, "seconds": round(time.perf_counter() - started, 1)})
        print(f"gpu-check: {name}: {row['figure']} {row['unit']} ({row['note']})", file=sys.stderr, flush=True)

    for name, check in CHECKS[:-1]:
        t0 = time.perf_counter()
        try:
            record(name, t0, check(ctx))
        except Exception as exc:  # one failing row must not hide the others
            record(name, t0, {"figure": None, "unit": "", "ok": False, "note": f"{type(exc).__name__}: {exc}"})
    t0 = time.perf_counter()
    try:
        for name, row in demo_fold_rows(ctx):
            record(name, t0, row)
    except Exception as exc:
        record("fold:*", t0, {"figure": None, "unit": "", "ok": False, "note": f"{type(exc).__name__}: {exc}"})
    name, check = CHECKS[-1]
    t0 = time.perf_counter()
    try:
        record(name, t0, check(ctx))
    except Exception as exc:
        record(name, t0, {"figure": None, "unit": "", "ok": False, "note": f"{type(exc).__name__}: {exc}"})

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() and not args.dry_run else "cpu (dry run)"
    table = Table(title=f"stbench gpu-check on {device}")
    for col in ("check", "figure", "unit", "ok", "seconds", "note"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["check"], str(r["figure"]), r["unit"], "yes" if r["ok"] else "[red]NO[/]", str(r["seconds"]),
                      r["note"])
    Console().print(table)
    out = Path(args.json) if args.json else (Path(os.environ["OUT"]) / "gpu_check.json" if os.environ.get("OUT") else None)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"device": device, "dry_run": args.dry_run, "rows": rows}, indent=1))
        print(f"wrote {out}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
