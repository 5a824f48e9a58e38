"""``make gpu-check`` cannot run without a GPU here; its ``--dry-run`` runs every row tiny on the CPU."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.py"


@pytest.mark.slow
def test_gpu_check_dry_run_prints_the_table_and_writes_json(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run"], capture_output=True, text=True, timeout=900,
        env={**os.environ, "OUT": str(out), "STBENCH_DATA": str(tmp_path / "data")},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads((out / "gpu_check.json").read_text())
    checks = [r["check"] for r in doc["rows"]]
    assert checks == ["cuda-tests", "genst-train-synthetic", "genst-train-loader", "extract:h0-mini", "extract:uni",
                      "extract:h-optimus-0", "fold:mean", "metrics-cuda-vs-numpy"]
    assert all(r["ok"] for r in doc["rows"]) and doc["dry_run"] is True
    rates = {r["check"]: r["figure"] for r in doc["rows"]}
    assert rates["genst-train-synthetic"] > 0 and all(rates[f"extract:{n}"] > 0 for n in ("h0-mini", "uni", "h-optimus-0"))
    assert "stbench gpu-check" in proc.stdout


def test_gpu_check_refuses_to_run_for_real_without_a_gpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    proc = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "--dry-run" in proc.stderr
