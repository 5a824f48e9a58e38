"""Test-session set-up: every test writes data under a temporary data root, never ~/.cache."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

def _test_threads() -> str:
    """The usable CPUs shared out among the pytest-xdist workers (``make test`` runs ``-n auto``),
    at least one each: two workers on 2 cores train with one thread each, a serial run with two."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return str(max(1, len(os.sched_getaffinity(0)) // max(workers, 1)))


TEST_THREADS = _test_threads()
"""CPU threads of every training run in the suite, whatever the caller's environment: a trained
cell is reproducible bit for bit only at a fixed thread count (docs/reproducibility.md), and two
processes whose OpenMP threads outnumber the cores slow each other down many times over. Set
before torch is imported, so torch, OpenMP and the BLAS start with it; cells record it in their
results. The sanity laws hold at one and two threads (tests/test_sanity_laws.py)."""
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = TEST_THREADS

_SESSION_ROOT = Path(tempfile.mkdtemp(prefix="stbench-tests-"))
os.environ["STBENCH_DATA"] = str(_SESSION_ROOT / "data")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The session's data root (``$STBENCH_DATA``): the demo cohort is generated here once."""
    return Path(os.environ["STBENCH_DATA"])


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real HEST-1k and STImage-1K4M metadata tables beside the checkout (skip if absent)."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not beside this checkout")
    return SHARED


def pytest_report_header(config: pytest.Config) -> str:
    return (f"stbench: training tests run with {TEST_THREADS} CPU thread(s) in this process; pytest-xdist workers "
            "share the CPUs out among them (OMP_NUM_THREADS, set by tests/conftest.py)")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove the session's data root (generated cohorts, ~0.6 GB), so repeated runs do not fill the disk."""
    import shutil

    shutil.rmtree(_SESSION_ROOT, ignore_errors=True)
