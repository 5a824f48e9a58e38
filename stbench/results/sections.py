"""The sections of a result document (``model``, ``cohort``, ``environment``, ``resources``):
typed fields with their meaning and units, read by :class:`stbench.results.document.ResultDocument`
and :mod:`stbench.results.schema`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SOURCES = ("harness", "predictions")
"""``model.source``: how the predictions of a result were made."""


def doc_field(text: str, *, optional: bool = False, enum: tuple[str, ...] | None = None) -> Any:
    """A dataclass field of the result document: ``text`` is its meaning (with units); an
    ``optional`` field may be absent from a file; ``enum`` lists the values it may take."""
    return field(default=None, metadata={"doc": text, "optional": optional, "enum": enum})


@dataclass(frozen=True)
class ModelSection:
    """``model``: what made the predictions."""

    name: str = doc_field("registry name of the model (`stbench run --model NAME`), or the --name given to `stbench score`")
    distribution: str | None = doc_field("the Python distribution that provides the model plugin; null for outside predictions")
    version: str | None = doc_field("the model's own version (`Predictor.version`, or `stbench score --model-version`)")
    distribution_version: str | None = doc_field("version of that distribution; null for outside predictions")
    oracle: bool = doc_field("true when the model read held-out expression (an upper bound, not a competitor)")
    profile: str = doc_field("the profile it ran with (`small`, `paper`; `external` for outside predictions)")
    settings: dict[str, Any] = doc_field("the `--set` overrides of the run (absent in results of `stbench score`)", optional=True)
    config: dict[str, Any] = doc_field("the model's resolved configuration: the profile's values updated by the overrides")
    source: str = doc_field("how the predictions were made: `harness` (`stbench run`) or `predictions` (`stbench score`)",
                       enum=SOURCES)


@dataclass(frozen=True)
class CohortSection:
    """``cohort``: the data the cell was trained and tested on."""

    name: str = doc_field("cohort name (`demo`, a paper cohort, or `local-<hash>` for a directory)")
    n_slides: int = doc_field("slides of the prepared cohort (after QC)")
    n_genes: int = doc_field("genes of the panel")
    panel_sha256: str = doc_field("sha256 of the panel (the sorted gene names), hex")
    split_sha256: str = doc_field("sha256 of the split document the folds came from, hex")
    split_file: str = doc_field("where that split came from (`splits/<cohort>.json`, or a prepared or results path)")
    source: str = doc_field("source of the raw data (`demo`, `hest`, `stimage`, `local`)")
    revision: str | None = doc_field("revision of the downloaded dataset; null for built-in or local data")
    split_seed: int | None = doc_field(
        "seed that dealt the split (`--split-seed` for a cohort directory; the frozen file's seed for a named "
        "cohort; null when the split file records none)", optional=True)
    train_slides: list[str] = doc_field("slide ids the model was trained on")
    val_slides: list[str] = doc_field("slide ids used for validation (early stopping); may be empty")
    test_slides: list[str] = doc_field("slide ids scored (held out)")


@dataclass(frozen=True)
class EnvironmentSection:
    """``environment``: where the cell ran."""

    python: str = doc_field("Python version")
    numpy: str = doc_field("numpy version")
    torch: str | None = doc_field("torch version; null without torch", optional=True)
    scanpy: str | None = doc_field("scanpy version", optional=True)
    platform: str = doc_field("operating system and machine (`platform.platform()`)")
    cpu: str = doc_field("CPU model name (`/proc/cpuinfo`); bit-for-bit reproduction needs the same", optional=True)
    threads: int = doc_field("CPU threads the cell ran with (`--threads`); absent for `stbench score`", optional=True)
    device: str = doc_field("`cpu` or `cuda`")
    gpu: str = doc_field("name of the GPU (CUDA runs only)", optional=True)


@dataclass(frozen=True)
class ResourcesSection:
    """``resources``: peak memory of the cell's process."""

    peak_host_mb: float = doc_field("peak resident host memory, MiB")
    peak_gpu_mb: float | None = doc_field("peak GPU memory allocated by torch, MiB; null without CUDA")
    host_measure: str = doc_field("how host memory was measured: `VmHWM` (Linux, this cell only) or `ru_maxrss`")
