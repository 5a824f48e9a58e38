"""Where stbench keeps its files: the data root (downloads, prepared cohorts, caches)."""

from __future__ import annotations

import os
from pathlib import Path


def data_root(root: str | Path | None = None) -> Path:
    """The data root: ``root`` if given, else ``$STBENCH_DATA``, else ``~/.cache/stbench``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("STBENCH_DATA")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "stbench"


def prepared_dir(name: str, root: str | Path | None = None) -> Path:
    """The prepared folder of the cohort named ``name`` (a cohort name or a directory cohort's
    ``local-...`` name): ``<data root>/prepared/<name>``."""
    return data_root(root) / "prepared" / name
