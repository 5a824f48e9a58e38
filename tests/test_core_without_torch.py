"""The core `stbench` distribution installs without torch, timm and torchvision, and its non-model
commands run there: a fresh venv gets the core alone (pip, from this checkout) and runs them.

To cover a new non-model command, add its argv to the list in ``test_core_commands_without_torch``.
"""

import os
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def core_env(tmp_path_factory):
    """(stbench executable, python executable, environment) of a venv holding only the core."""
    base = tmp_path_factory.mktemp("core-venv")
    venv.EnvBuilder(with_pip=True).create(base / "venv")
    python = base / "venv" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-e", str(ROOT)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(STBENCH_DATA=str(base / "data"), HF_HUB_OFFLINE="1")
    return base / "venv" / "bin" / "stbench", python, env, base


def _run(exe, env, cwd, *argv, ok=(0,)):
    out = subprocess.run([str(exe), *argv], capture_output=True, text=True, env=env, cwd=cwd)
    assert out.returncode in ok, f"stbench {' '.join(argv)} exited {out.returncode}:\n{out.stdout}\n{out.stderr}"
    assert "Traceback" not in out.stderr
    return out


def test_core_venv_has_no_torch(core_env):
    _, python, env, base = core_env
    for module in ("torch", "torchvision", "timm"):
        probe = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, env=env, cwd=base)
        assert probe.returncode != 0, f"{module} is importable in the core-only venv"


def _external_mean_predictions(export_dir: Path, out: Path) -> None:
    """What an external method does: read the exported training h5ad files, write test predictions."""
    import anndata

    train = [anndata.read_h5ad(p) for p in sorted((export_dir / "train").glob("*.h5ad"))]
    mean = np.concatenate([a.X for a in train]).mean(axis=0).astype(np.float32)
    out.mkdir()
    for path in sorted((export_dir / "test").glob("*.h5ad")):
        test = anndata.read_h5ad(path)
        x = np.broadcast_to(mean, test.shape).copy()
        names = {"obs_names": np.asarray(test.obs_names, dtype=str), "var_names": np.asarray(test.var_names, dtype=str)}
        np.savez(out / f"{path.stem}.npz", X=x, **names)


def test_core_commands_without_torch(core_env):
    exe, _, env, base = core_env
    for argv in (
        ["--help"],
        ["list"],
        ["splits", "verify"],
        ["data", "status"],
        ["encoders"],
        ["encoders", "info", "uni2-h"],
        ["data", "prepare", "--cohort", "demo"],
        ["export", "--cohort", "demo", "--fold", "0", "--out", str(base / "export")],
    ):
        _run(exe, env, base, *argv)
    _external_mean_predictions(base / "export", base / "preds")
    _run(exe, env, base, "score", "--cohort", "demo", "--fold", "0", "--predictions", str(base / "preds"),
         "--name", "external-mean", "--results", str(base / "results"))
    _run(exe, env, base, "rescore", "--results", str(base / "results"))
    out = _run(exe, env, base, "validate", str(base / "results"), ok=(1,))
    assert out.stdout.strip() == "demo/external-mean: fold(s) 1, 2, 3, 4 are missing."
    report = _run(exe, env, base, "report", "--results", str(base / "results"))
    assert "external-mean" in report.stdout
    _run(exe, env, base, "run", "--model", "mean", "--cohort", "demo", ok=(2,))  # no model plugins here: one sentence
