"""Atomic, once-only generation of a synthetic cohort directory under a data root."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def ensure_generated(final: Path, generate: Callable[[Path], object], marker: str) -> Path:
    """``final``, written by ``generate(directory)`` unless its ``COMPLETE`` marker exists.

    A cohort counts as present only when its ``COMPLETE`` marker exists. Generation goes to a
    temporary sibling directory that is renamed into place after the marker (text ``marker``)
    is written, so a half-written cohort is never seen; an incomplete directory left at the
    final path is replaced. Safe against concurrent callers: whoever renames first wins and
    the others discard their copy.
    """
    if (final / "COMPLETE").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the cohort is shared like the rest of the root
    try:
        generate(tmp)
        (tmp / "COMPLETE").write_text(marker + "\n")
        if final.exists() and not (final / "COMPLETE").is_file():
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "COMPLETE").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
