"""The named cohorts: the built-in demo, the six cohorts of the GenST paper (Table 1), and the
extended cohorts that the paper's own rule also allows.

A cohort's slide list is frozen in ``splits/<name>.json``; the rules here say how that list
was selected from the source's metadata table (``stbench splits generate`` applies them).

The paper keeps "organ-specific cohorts with more than 40 slides". Applied to the two metadata
tables (``HEST_v1_1_0.csv``: ``st_technology`` x ``organ``; ``meta_all_gene02122025.csv``:
``tech`` x ``tissue``), the groups with more than 40 slides are the paper's six plus ten more:
HEST-1k Visium Brain (121), Bowel (81), Kidney (67), Heart (50) and STImage-1K4M Visium liver
(99), breast (97), kidney (69), heart (55), skin (51), pancreas (48). Those are the
:data:`EXTENDED_COHORTS`, with one species per cohort: a group that mixes species keeps its
most frequent species, and every other species that itself has more than 40 slides in the group
becomes a cohort of its own (HEST Visium Brain: mouse 79 and human 42; STImage Visium liver:
mouse 55 and human 44); the other species' slides are left out.

The :data:`HEST_BENCH_COHORTS` are HEST-Benchmark's tasks (github.com/mahmoodlab/HEST): their
samples, folds and 50-gene panels are not selected by a rule but transcribed from the published
benchmark data (``splits/hest-bench-<task>.json`` records the source of each fact). Only the
tasks whose published folds and gene list could be read are here (see ``docs/hest-bench.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from stbench.errors import StbenchError
from stbench.registry import suggest


@dataclass(frozen=True)
class CohortSpec:
    """How a named cohort is selected.

    Attributes:
        name: cohort name, as typed on the command line.
        source: ``"hest"`` (HEST-1k), ``"stimage"`` (STImage-1K4M) or ``"demo"`` (built in).
        technology: value of HEST ``st_technology`` or STImage ``tech``.
        organ: value of HEST ``organ`` or STImage ``tissue``.
        min_radius_px: STImage pixel-radius QC (spot radius in image pixels), applied when the
            data is prepared; ``None`` when no QC applies.
        species: value of HEST ``species`` or STImage ``species`` the cohort is restricted to;
            ``None`` keeps every species (the paper's cohorts).
        published: for a cohort transcribed from a published benchmark (its split file holds
            the published folds and gene panel), the source; ``None`` for a selected cohort.
    """

    name: str
    source: str
    technology: str
    organ: str
    min_radius_px: float | None = None
    species: str | None = None
    published: str | None = None

    @property
    def rule(self) -> str:
        """The selection rule in words (recorded in the split file)."""
        if self.published:
            return f"samples, folds and gene panel as published by {self.published}"
        if self.source == "demo":
            return "all slides of the built-in synthetic demo cohort"
        species = f" and species == {self.species!r}" if self.species else ""
        if self.source == "hest":
            return f"HEST-1k rows with st_technology == {self.technology!r} and organ == {self.organ!r}{species}"
        return (
            f"STImage-1K4M rows with tech == {self.technology!r} and tissue == {self.organ!r}{species}; "
            f"slides with spot radius < {self.min_radius_px:g} px dropped when prepared"
        )

    def select(self, metadata: pd.DataFrame) -> pd.DataFrame:
        """The rows of the source's metadata table that belong to this cohort."""
        if self.source == "hest":
            mask = (metadata["st_technology"] == self.technology) & (metadata["organ"] == self.organ)
        elif self.source == "stimage":
            mask = (metadata["tech"] == self.technology) & (metadata["tissue"] == self.organ)
        else:
            raise StbenchError(f"Cohort {self.name!r} is generated, not selected from metadata.")
        if self.species is not None:
            mask &= metadata["species"] == self.species
        return metadata[mask]


PAPER_COHORTS: tuple[CohortSpec, ...] = (
    CohortSpec("hest-st-breast", "hest", "Spatial Transcriptomics", "Breast"),
    CohortSpec("hest-st-brain", "hest", "Spatial Transcriptomics", "Brain"),
    CohortSpec("hest-st-spinal", "hest", "Spatial Transcriptomics", "Spinal cord"),
    CohortSpec("hest-visium-skin", "hest", "Visium", "Skin"),
    CohortSpec("stimage-st-breast", "stimage", "ST", "breast", min_radius_px=64),
    CohortSpec("stimage-visium-brain", "stimage", "Visium", "brain", min_radius_px=32),
)
DEMO = CohortSpec("demo", "demo", "Visium", "Synthetic")
DEMO_SPARSE = CohortSpec("demo-sparse", "demo", "Visium", "Synthetic")
COHORTS: dict[str, CohortSpec] = {c.name: c for c in (DEMO, DEMO_SPARSE, *PAPER_COHORTS)}

_HUMAN, _MOUSE = "Homo sapiens", "Mus musculus"  # HEST-1k spells species so; STImage-1K4M "human", "mouse"
EXTENDED_COHORTS: tuple[CohortSpec, ...] = (
    CohortSpec("hest-visium-brain-mouse", "hest", "Visium", "Brain", species=_MOUSE),
    CohortSpec("hest-visium-brain-human", "hest", "Visium", "Brain", species=_HUMAN),
    CohortSpec("hest-visium-bowel", "hest", "Visium", "Bowel", species=_HUMAN),
    CohortSpec("hest-visium-kidney", "hest", "Visium", "Kidney", species=_HUMAN),
    CohortSpec("hest-visium-heart", "hest", "Visium", "Heart", species=_HUMAN),
    CohortSpec("stimage-visium-liver-mouse", "stimage", "Visium", "liver", min_radius_px=32, species="mouse"),
    CohortSpec("stimage-visium-liver-human", "stimage", "Visium", "liver", min_radius_px=32, species="human"),
    CohortSpec("stimage-visium-breast", "stimage", "Visium", "breast", min_radius_px=32, species="human"),
    CohortSpec("stimage-visium-kidney", "stimage", "Visium", "kidney", min_radius_px=32, species="human"),
    CohortSpec("stimage-visium-heart", "stimage", "Visium", "heart", min_radius_px=32, species="human"),
    CohortSpec("stimage-visium-skin", "stimage", "Visium", "skin", min_radius_px=32, species="human"),
    CohortSpec("stimage-visium-pancreas", "stimage", "Visium", "pancreas", min_radius_px=32, species="human"),
)
"""The extended cohorts (see the module docstring for the rule); the STImage ones use the paper's
Visium radius QC (>= 32 px)."""
COHORTS.update({c.name: c for c in EXTENDED_COHORTS})
MIN_SLIDES = 40
"""The paper's rule keeps organ-specific groups with more than this many slides."""


HEST_BENCH = "HEST-Benchmark (github.com/mahmoodlab/HEST, data huggingface.co/datasets/MahmoodLab/hest-bench)"
HEST_BENCH_COHORTS: tuple[CohortSpec, ...] = (
    CohortSpec("hest-bench-coad", "hest", "Xenium", "Bowel", species=_HUMAN, published=HEST_BENCH),
    CohortSpec("hest-bench-read", "hest", "Visium", "Bowel", species=_HUMAN, published=HEST_BENCH),
)
"""HEST-Benchmark's tasks COAD and READ (HEST-1k samples; the raw data comes from HEST-1k). The
other seven tasks are left out: their published folds or gene list could not be read."""
COHORTS.update({c.name: c for c in HEST_BENCH_COHORTS})
GROUPS: dict[str, tuple[CohortSpec, ...]] = {
    "all": PAPER_COHORTS, "extended": EXTENDED_COHORTS, "hest-bench": HEST_BENCH_COHORTS,
}
"""Names that stand for several cohorts on the command line."""


def is_paper_cohort(name: str) -> bool:
    """Whether ``name`` is one of the paper's six cohorts."""
    return any(c.name == name for c in PAPER_COHORTS)


def expand_cohort_names(spec: str) -> list[str]:
    """Names in a comma list, with the :data:`GROUPS` expanded (``all`` = the paper's six,
    ``extended`` = the extended ones, ``hest-bench`` = the HEST-Benchmark tasks).

    Other items are returned as given (a cohort name or a directory path), in order, without
    repeats.
    """
    out: list[str] = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        names = [c.name for c in GROUPS[item]] if item in GROUPS else [item]
        out += [n for n in names if n not in out]
    return out


def get_cohort(name: str) -> CohortSpec:
    """The spec of a named cohort; an unknown name gets a 'did you mean' message."""
    if name not in COHORTS:
        raise StbenchError(
            f"Unknown cohort {name!r}.{suggest(name, list(COHORTS))} "
            f"Named cohorts: {', '.join(COHORTS)} (all = the paper's six, extended = the others, "
            "hest-bench = the HEST-Benchmark tasks); "
            "or give a directory in the HEST-1k or STImage layout."
        )
    return COHORTS[name]
