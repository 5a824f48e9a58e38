"""Feature-cache benchmark: first run (encode) vs second run (read), then per-fold model timings.

Builds a synthetic demo-sized cohort in memory (default 12 slides x 300 spots x 1000 genes,
the size of ``make demo``), encodes every slide's ``spot`` and ``subtile3x3`` views with the
``small`` profiles' encoder into a fresh temporary cache, reads them again through a new
:class:`~stbench.torchkit.features.FeatureCache` (as a second run would), and prints both times. Then
fits and predicts each feature-based baseline's ``small`` profile on five slide-level folds
(features already cached) and prints the seconds per fold::

    python tests/benchmarks/bench_feature_cache.py [--slides 12] [--spots 300] [--genes 1000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from baselines.deepspot import DeepSpotPredictor
from baselines.ridge import RidgePredictor
from baselines.uni_mlp import UNIMLPPredictor
from stbench.encoders import encoder_info
from stbench.protocol.splits import make_folds
from stbench.torchkit.features import FeatureCache
from stbench.testing import tiny_spotdata

VIEWS = ("spot", "subtile3x3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slides", type=int, default=12)
    parser.add_argument("--spots", type=int, default=300)
    parser.add_argument("--genes", type=int, default=1000)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()

    t0 = time.perf_counter()
    data = tiny_spotdata(n_slides=args.slides, n_spots=args.spots, n_genes=args.genes, seed=0)
    print(
        f"cohort: {args.slides} slides x {args.spots} spots x {args.genes} genes "
        f"({data.n_spots} spots), built in {time.perf_counter() - t0:.1f} s"
    )
    encoder = encoder_info("uni-small-random")

    with tempfile.TemporaryDirectory(prefix="stbench-bench-features-") as root:
        os.environ["STBENCH_FEATURES"] = root
        times = []
        for run in ("first", "second"):
            cache = FeatureCache(root)
            start = time.perf_counter()
            for slide in data.slides:
                for view in VIEWS:
                    cache.get(slide, encoder, view=view)
            times.append(time.perf_counter() - start)
            print(
                f"{run} run: {times[-1]:.2f} s ({cache.misses} computed, {cache.hits} read; "
                f"{data.n_spots * 10} images of {encoder.input_size} px through {encoder.name})"
            )
        print(f"second-run speedup: {times[0] / times[1]:.0f}x")

        folds = make_folds({s.id: s.id for s in data.slides}, n_folds=args.folds)
        for cls in (RidgePredictor, UNIMLPPredictor, DeepSpotPredictor):
            per_fold = []
            for k, fold in enumerate(folds):
                start = time.perf_counter()
                model = cls("small", seed=k).fit(data.subset(fold["train"]), data.subset(fold["val"]))
                pred = model.predict(data.subset(fold["test"]).hide_expression())
                per_fold.append(time.perf_counter() - start)
                assert np.isfinite(pred).all()
            n_train = sum(data.subset(f["train"]).n_spots for f in folds) / len(folds)
            print(
                f"{cls.name} (small): fit+predict per fold "
                f"{', '.join(f'{t:.1f}' for t in per_fold)} s (mean {np.mean(per_fold):.1f} s, "
                f"~{n_train:.0f} train spots)"
            )


if __name__ == "__main__":
    main()
