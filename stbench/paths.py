"""Where stbench keeps its files: the data root (downloads, prepared cohorts, caches)."""

from __future__ import annotations

import os
from pathlib import Path

from stbench.untrusted import plain_name


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
    return data_root(root) / "prepared" / plain_name(name, "cohort name")


def umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode(target: Path) -> int:
    """The permission bits a file written to ``target`` by a temporary file and a rename should
    get: the existing file's (a rewrite keeps them), else ``0o666`` less the umask (``0o644``
    under the usual umask 022), as ``open`` would give; ``tempfile.mkstemp`` alone gives 0o600."""
    try:
        return Path(target).stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~umask()
