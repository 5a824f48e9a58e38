"""Who each STImage-1K4M slide came from: the donor table that STImage folds are grouped by.

STImage-1K4M's metadata names no patient, but serial sections of one patient must not land in
both train and test. The committed table ``stbench/data/stimage_donors.csv`` (columns ``slide``,
``study``, ``donor``, ``source``) gives every slide of every STImage cohort a donor, derived by
the rules below from the slide name and the study's publication; ``source`` says which rule
and where its fact comes from. Where a study does not say which section came from which donor,
the whole study is one group (``source`` starts with ``"study grouped"``). Donor ids of the
Lieber Institute's brains (``Br####``) are shared across studies, so the same brain in two
studies is one group.

Rebuild the table from the metadata table with
``python -m stbench.protocol.donors meta_all_gene02122025.csv stbench/data/stimage_donors.csv``;
``tests/test_cohorts_donors.py`` checks that the committed table equals that derivation.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from stbench.errors import StbenchError

DONOR_TABLE = Path(__file__).resolve().parents[1] / "data" / "stimage_donors.csv"
COLUMNS = ("slide", "study", "donor", "source")

_MAYNARD_DONORS = {
    **dict.fromkeys(("151507", "151508", "151509", "151510"), "Br5292"),
    **dict.fromkeys(("151669", "151670", "151671", "151672"), "Br5595"),
    **dict.fromkeys(("151673", "151674", "151675", "151676"), "Br8100"),
}
"""Maynard et al. 2021 (Nat Neurosci, spatialLIBD): 12 DLPFC sections, 4 from each of 3 donors."""


@dataclass(frozen=True)
class DonorRule:
    """One naming rule: slides matching ``pattern`` get ``study`` and ``donor(match)``."""

    pattern: re.Pattern[str]
    study: str
    donor: Callable[[re.Match[str]], str]
    source: str


def _rule(pattern: str, study: str, donor: Callable[[re.Match[str]], str], source: str) -> DonorRule:
    return DonorRule(re.compile(pattern), study, donor, source)


RULES: tuple[DonorRule, ...] = (
    _rule(
        r"^Human_Breast_Andersson_10142021_ST_([A-H])[1-6]$", "Andersson 2021 (PMID 34650042)",
        lambda m: f"Andersson:{m[1]}",
        "slide name: in section <letter><n> the letter is the patient (8 HER2+ patients A-H, Andersson et al. 2021)",
    ),
    _rule(
        r"^Human_Breast_He_06222020_ST_(BC\d+)_[A-Z]\d$", "He 2020 (PMID 32572199)",
        lambda m: f"He:{m[1]}",
        "slide name: BC##### is the patient, C1/C2/D1/D2/E1/E2 its sections (23 patients, He et al. 2020)",
    ),
    _rule(
        r"^Human_Breast_Stahl_07012016_ST_Layer\d$", "Stahl 2016 (PMID 27365449)",
        lambda m: "Stahl:tumour",
        "slide name: Layer1-4 are serial layers of one breast tumour (Stahl et al. 2016)",
    ),
    _rule(
        r"^Human_Brain_Maynard_02082021_Visium_(151\d{3})$", "Maynard 2021 (PMID 33558695)",
        lambda m: f"LIBD:{_MAYNARD_DONORS[m[1]]}",
        "publication: sections 151507-151510 are donor Br5292, 151669-151672 Br5595, 151673-151676 Br8100 "
        "(Maynard et al. 2021, spatialLIBD)",
    ),
    _rule(
        r"^Human_Brain_(?:Louise|Kwon)_\d{8}_Visium_(?:.*_)?(Br\d+)(?:_[a-z]+)?$", "LIBD brain donors",
        lambda m: f"LIBD:{m[1]}",
        "slide name: Br#### is the Lieber Institute brain donor (shared across LIBD studies)",
    ),
    _rule(
        r"^Human_Heart_Kuppe_10082022_Visium_(AKK\d+)_\d+$", "Kuppe 2022 (PMID 35948637)",
        lambda m: f"Kuppe:{m[1]}",
        "slide name: AKK### is the patient (Kuppe et al. 2022)",
    ),
    _rule(
        r"^Human_Heart_Kuppe_10082022_Visium_Visium_\d+_CK\d+$", "Kuppe 2022 (PMID 35948637)",
        lambda m: "Kuppe:CK-samples",
        "study grouped: CK### is a sample, not a patient, and the metadata does not say whose; "
        "all CK sections of Kuppe et al. 2022 are one group",
    ),
    _rule(
        r"^Human_Breast_Wu_06052021_Visium_(CID\d+|\d+F)$", "Wu 2021 (PMID 34493872)",
        lambda m: f"Wu:{m[1]}",
        "slide name: CID#### / #######F is the patient (Wu et al. 2021)",
    ),
    _rule(
        r"^(Human|Mouse)_([A-Za-z]+)_10X_(\d{8})_Visium", "10x Genomics datasets",
        lambda m: f"10X:{m[1]}_{m[2]}_{m[3]}",
        "study grouped: 10x Genomics demonstration data name no donor; the sections of one release "
        "(the date in the name) are one group",
    ),
)


def _study_fallback(slide: str, pmid: str) -> tuple[str, str, str]:
    """(study, donor, source) for a slide no naming rule covers: the whole study is one group."""
    gse = re.match(r"^(GSE\d+)_GSM\d+$", slide)
    if gse:
        if pmid:
            why = f"GEO series {gse[1]} names no donor per sample; all series of PMID {pmid} are one group"
            return f"PMID {pmid}", f"PMID:{pmid}", f"study grouped: {why}"
        why = f"GEO series {gse[1]} names no donor per sample and no PMID; the series is one group"
        return f"GEO {gse[1]}", f"GEO:{gse[1]}", f"study grouped: {why}"
    named = re.match(r"^([A-Za-z]+_[A-Za-z]+_[A-Za-z0-9]+_\d{8})_", slide)
    if named:
        why = f"no donor in the slide name; all slides of {named[1]} are one group"
        return named[1], f"study:{named[1]}", f"study grouped: {why}"
    raise StbenchError(
        f"STImage slide {slide!r} matches no donor rule and no study pattern; add a rule to stbench/protocol/donors.py."
    )


def derive_donors(metadata: pd.DataFrame, slides: Iterable[str]) -> pd.DataFrame:
    """The donor table (columns :data:`COLUMNS`, sorted by slide) of ``slides`` of an STImage
    metadata table (columns ``slide`` and ``pmid``)."""
    pmids = dict(zip(metadata["slide"].astype(str), metadata["pmid"].fillna("").astype(str)))
    rows = []
    for slide in sorted(set(slides)):
        for rule in RULES:
            match = rule.pattern.match(slide)
            if match:
                rows.append((slide, rule.study, rule.donor(match), rule.source))
                break
        else:
            rows.append((slide, *_study_fallback(slide, pmids.get(slide, "").strip())))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def write_donor_table(table: pd.DataFrame, path: Path = DONOR_TABLE) -> None:
    """Write the table deterministically (utf-8, ``\\n`` line ends, every field quoted as needed)."""
    table.to_csv(path, index=False, lineterminator="\n")


def read_donor_table(path: Path = DONOR_TABLE) -> dict[str, str]:
    """Slide id -> donor id, from the committed table."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError as exc:
        raise StbenchError(f"The STImage donor table {path} is missing; restore it with git checkout.") from exc
    return dict(zip(table["slide"], table["donor"]))


def stimage_cohort_slides(metadata: pd.DataFrame) -> list[str]:
    """Every slide of every named STImage cohort (the rows the donor table must cover)."""
    from stbench.protocol.cohorts import COHORTS

    slides: set[str] = set()
    for spec in COHORTS.values():
        if spec.source == "stimage":
            slides |= set(spec.select(metadata)["slide"].astype(str))
    return sorted(slides)


def main(argv: list[str]) -> int:
    """``python -m stbench.protocol.donors METADATA_CSV OUT_CSV``: rebuild the donor table."""
    if len(argv) != 2:
        print("usage: python -m stbench.protocol.donors meta_all_gene02122025.csv OUT.csv", file=sys.stderr)
        return 2
    metadata = pd.read_csv(argv[0], encoding="utf-8-sig", dtype={"pmid": str})
    write_donor_table(derive_donors(metadata, stimage_cohort_slides(metadata)), Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
