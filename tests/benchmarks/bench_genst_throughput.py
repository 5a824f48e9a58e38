"""GenST training throughput (images/s) and peak memory, paper profile, one device.

Measures full training steps (forward, the five-term loss, backward, RAdam step) of the paper
architecture (ResNet-50, 224 px, K = d_g = d_i = 256, bf16 autocast and channels-last on CUDA)
on synthetic batches already on the device, so the figure is the model's speed, not the data
pipeline's. Weights are random (``pretrained=False``): throughput does not depend on them.

    python tests/benchmarks/bench_genst_throughput.py                 # GPU: batch 256, 30 steps
    python tests/benchmarks/bench_genst_throughput.py --device cpu --batch 8 --steps 2 --warmup 1
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch

from genst.config import PAPER
from genst.losses import genst_loss, genst_loss_terms
from genst.modules import GenSTModel
from stbench.torchkit.training import autocast, prepare_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--genes", type=int, default=8000, help="panel size (paper: 4,267-13,923)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    args = parser.parse_args()

    device = torch.device(args.device)
    cfg = replace(PAPER, pretrained=False)
    torch.manual_seed(0)
    model = prepare_model(GenSTModel(args.genes, cfg), device).train()
    if args.compile:
        model = torch.compile(model)
    optimizer = torch.optim.RAdam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    images = torch.randn(args.batch, 3, cfg.image_size, cfg.image_size, device=device)
    images = images.contiguous(memory_format=torch.channels_last)
    expression = torch.rand(args.batch, args.genes, device=device) * 3

    def step() -> None:
        with autocast(device):
            loss = genst_loss(genst_loss_terms(model(images, expression), images, expression), cfg)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    print(f"device {device} ({torch.cuda.get_device_name(0) if device.type == 'cuda' else 'cpu'}), "
          f"batch {args.batch}, genes {args.genes}, steps {args.steps}, compile {args.compile}")
    print(f"throughput: {args.batch * args.steps / seconds:,.1f} images/s ({seconds / args.steps * 1000:.1f} ms/step)")
    if device.type == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
