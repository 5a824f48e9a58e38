"""Benchmark BLEEP's batched top-k retrieval (a plain script, not a pytest test).

    python tests/benchmarks/bench_bleep_retrieval.py                      # 500k x 100k x 256
    python tests/benchmarks/bench_bleep_retrieval.py --run-queries 4096   # time a subset, extrapolate

Searches ``--queries`` query embeddings against ``--reference`` reference embeddings (float32,
L2-normalised, ``--dim`` wide) for the top ``--k`` by cosine similarity, with
:func:`baselines.bleep.retrieval.topk_similar`, and prints queries/s, the (extrapolated) time
for all queries, and the process's peak resident memory next to the size of the inputs.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from baselines.bleep.retrieval import topk_similar


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def unit_rows(n: int, dim: int, gen: torch.Generator) -> torch.Tensor:
    """(n, dim) float32 random unit vectors, normalised in place (no second copy)."""
    x = torch.randn(n, dim, generator=gen)
    return x.div_(x.norm(dim=1, keepdim=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", type=int, default=500_000)
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--run-queries", type=int, default=None, help="time only this many queries")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--query-chunk", type=int, default=1024)
    parser.add_argument("--reference-chunk", type=int, default=65536)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    run = min(args.run_queries or args.queries, args.queries)
    gen = torch.Generator().manual_seed(0)
    reference, queries = (unit_rows(n, args.dim, gen).to(args.device) for n in (args.reference, run))
    inputs_mib = (reference.numel() + queries.numel()) * 4 / 2**20
    before = peak_rss_mib()

    start = time.perf_counter()
    scores, index = topk_similar(
        queries, reference, args.k, query_chunk=args.query_chunk, reference_chunk=args.reference_chunk
    )
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start

    rate = run / seconds
    print(
        f"reference {args.reference:,} x {args.dim}-d float32, k={args.k}, device {args.device}, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(
        f"chunks: {args.query_chunk} queries x {args.reference_chunk} reference rows "
        f"({args.query_chunk * args.reference_chunk * 4 / 2**20:.0f} MiB of scores per block)"
    )
    print(f"timed {run:,} queries in {seconds:.1f} s: {rate:,.0f} queries/s")
    print(
        f"all {args.queries:,} queries: {args.queries / rate:,.0f} s"
        + (" (extrapolated)" if run < args.queries else "")
    )
    print(
        f"peak RSS {peak_rss_mib():,.0f} MiB (inputs {inputs_mib:,.0f} MiB; peak before the search "
        f"{before:,.0f} MiB, so the search added {peak_rss_mib() - before:,.0f} MiB)"
    )
    if args.device.startswith("cuda"):
        print(f"peak CUDA memory {torch.cuda.max_memory_allocated() / 2**20:,.0f} MiB")
    assert index.shape == (run, args.k) and bool((scores[:, :-1] >= scores[:, 1:]).all())


if __name__ == "__main__":
    main()
