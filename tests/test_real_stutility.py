"""Every model on real data: the four stutility-mob legacy-ST sections, imported with ``stbench data import``
and run with ``stbench run --model all --cohort DIR`` (``small`` profile, fold 0).

The sections come from two animals, so no patient is given: each section is its own group, and the
directory split (which needs at least three groups) puts two sections in train, one in val, one in test.
Laws: the oracle (gene2gene) above every other model on ``pearson_gene``, and no regression head
under the mean floor (asserted where the law held in every run of the seeds x threads sweep of
docs/reproducibility.md, reported otherwise: see tests/test_sanity_laws.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stbench.cli import main
from tests.test_import_st import real_mob_dir
from tests.test_sanity_laws import check_floor, run_all_models


@pytest.mark.slow
def test_every_model_runs_on_real_sections_at_or_above_the_floor(tmp_path: Path) -> None:
    src = real_mob_dir()
    out = tmp_path / "mob"
    argv = ["data", "import", "--format", "st", *map(str, sorted(src.glob("MOB*.tsv.gz")))]
    assert main([*argv, "--out", str(out), "--organ", "Olfactory bulb", "--species", "Mus musculus"]) == 0
    metrics = run_all_models(str(out), tmp_path / "results")
    print("\n".join(f"{n:10s} {m['pearson_gene']:.4f} {m['pearson']:.4f} {m['l1']:.4f}" for n, m in metrics.items()))
    others = {n: m["pearson_gene"] for n, m in metrics.items() if n not in ("gene2gene", "mean")}
    assert metrics["gene2gene"]["pearson_gene"] > max(others.values()), (metrics["gene2gene"], others)
    check_floor(metrics, "stutility-mob")
