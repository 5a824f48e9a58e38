"""The named cohorts: the built-in demo and the six cohorts of the GenST paper (Table 1).

A cohort's slide list is frozen in ``splits/<name>.json``; the rules here say how that list
was selected from the source's metadata table (``stbench splits generate`` applies them).
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
    """

    name: str
    source: str
    technology: str
    organ: str
    min_radius_px: float | None = None

    @property
    def rule(self) -> str:
        """The selection rule in words (recorded in the split file)."""
        if self.source == "demo":
            return "all slides of the built-in synthetic demo cohort"
        if self.source == "hest":
            return f"HEST-1k rows with st_technology == {self.technology!r} and organ == {self.organ!r}"
        return (
            f"STImage-1K4M rows with tech == {self.technology!r} and tissue == {self.organ!r}; "
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


def get_cohort(name: str) -> CohortSpec:
    """The spec of a named cohort; an unknown name gets a 'did you mean' message."""
    if name not in COHORTS:
        raise StbenchError(
            f"Unknown cohort {name!r}.{suggest(name, list(COHORTS))} "
            f"Named cohorts: {', '.join(COHORTS)}; or give a directory in the HEST-1k layout."
        )
    return COHORTS[name]
