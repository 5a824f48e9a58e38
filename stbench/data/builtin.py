"""The built-in synthetic cohorts (``demo``, ``demo-sparse``) by name."""

from __future__ import annotations

from pathlib import Path

from stbench.data.demo import ensure_demo
from stbench.data.demo_sparse import ensure_demo_sparse


def ensure_builtin(name: str, root: Path | str) -> Path:
    """The directory of the built-in cohort ``name`` (``demo`` or ``demo-sparse``), generated if needed."""
    if name == "demo-sparse":
        return ensure_demo_sparse(root)
    if name == "demo":
        return ensure_demo(root)
    raise ValueError(f"No built-in cohort named {name!r}.")
