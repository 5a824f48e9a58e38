"""The extended cohorts: the paper's own rule (organ-specific groups with more than 40 slides)
applied to both metadata tables, one species per cohort."""

from __future__ import annotations

import pandas as pd
import pytest

from stbench.protocol.cohorts import COHORTS, EXTENDED_COHORTS, MIN_SLIDES, PAPER_COHORTS, expand_cohort_names, is_paper_cohort
from stbench.errors import StbenchError
from stbench.grid.launch import resolve_cohorts
from stbench.protocol.splits import load_split


@pytest.fixture(scope="module")
def tables(shared_data) -> dict[str, pd.DataFrame]:
    return {
        "hest": pd.read_csv(shared_data / "hest" / "HEST_v1_1_0.csv", encoding="utf-8-sig"),
        "stimage": pd.read_csv(shared_data / "stimage" / "meta_all_gene02122025.csv", encoding="utf-8-sig"),
    }


def _groups_over_the_limit(tables) -> dict[tuple[str, str, str], int]:
    cols = {"hest": ("st_technology", "organ"), "stimage": ("tech", "tissue")}
    out = {}
    for source, table in tables.items():
        sizes = table.groupby(list(cols[source])).size()
        out |= {(source, *key): int(n) for key, n in sizes.items() if n > MIN_SLIDES}
    return out


def test_the_rule_yields_the_paper_cohorts_and_the_extended_ones(tables):
    groups = _groups_over_the_limit(tables)
    assert groups == {
        ("hest", "Spatial Transcriptomics", "Breast"): 108, ("hest", "Spatial Transcriptomics", "Brain"): 87,
        ("hest", "Spatial Transcriptomics", "Spinal cord"): 302, ("hest", "Visium", "Skin"): 71,
        ("stimage", "ST", "breast"): 108, ("stimage", "Visium", "brain"): 250,
        ("hest", "Visium", "Brain"): 121, ("hest", "Visium", "Bowel"): 81, ("hest", "Visium", "Kidney"): 67,
        ("hest", "Visium", "Heart"): 50,
        ("stimage", "Visium", "liver"): 99, ("stimage", "Visium", "breast"): 97, ("stimage", "Visium", "kidney"): 69,
        ("stimage", "Visium", "heart"): 55, ("stimage", "Visium", "skin"): 51, ("stimage", "Visium", "pancreas"): 48,
    }
    named = {(c.source, c.technology, c.organ) for c in (*PAPER_COHORTS, *EXTENDED_COHORTS)}
    assert named == set(groups)
    assert {(c.source, c.technology, c.organ) for c in PAPER_COHORTS}.isdisjoint(
        {(c.source, c.technology, c.organ) for c in EXTENDED_COHORTS}
    )


def test_each_extended_cohort_is_one_species_the_groups_most_frequent_or_one_over_the_limit(tables):
    for spec in EXTENDED_COHORTS:
        table = tables[spec.source]
        rows = spec.select(table)
        assert set(rows["species"]) == {spec.species}
        whole = COHORTS[spec.name].select(table.assign(species=spec.species))  # the group, every species
        counts = table.loc[whole.index, "species"].value_counts()
        assert spec.species == counts.index[0] or counts[spec.species] > MIN_SLIDES
        over = {s for s, n in counts.items() if n > MIN_SLIDES} | {counts.index[0]}
        key = (spec.source, spec.technology, spec.organ)
        same_group = {c.species for c in EXTENDED_COHORTS if (c.source, c.technology, c.organ) == key}
        assert same_group == over
        assert load_split(spec.name).slides == tuple(sorted(rows["id" if spec.source == "hest" else "slide"]))


def test_extended_stimage_cohorts_use_the_paper_visium_qc():
    for spec in EXTENDED_COHORTS:
        if spec.source == "stimage":
            assert spec.technology == "Visium" and spec.min_radius_px == 32
            assert "radius < 32 px" in spec.rule and f"species == {spec.species!r}" in spec.rule


def test_all_is_the_paper_six_and_extended_the_others():
    paper = tuple(c.name for c in PAPER_COHORTS)
    extended = tuple(c.name for c in EXTENDED_COHORTS)
    assert resolve_cohorts("all") == paper and len(paper) == 6
    assert resolve_cohorts("extended") == extended and len(extended) == 12
    assert resolve_cohorts("demo,extended,hest-visium-bowel") == ("demo", *extended)
    assert expand_cohort_names("all,extended") == [*paper, *extended]
    assert all(is_paper_cohort(n) for n in paper) and not any(is_paper_cohort(n) for n in (*extended, "demo"))
    with pytest.raises(StbenchError, match="Did you mean .hest-visium-bowel."):
        resolve_cohorts("hest-visium-bowl")


def test_list_marks_which_cohorts_are_the_papers(tmp_path):
    from stbench.cli.listing import cohort_rows

    rows = {r["name"]: r for r in cohort_rows(tmp_path)}
    assert {n for n, r in rows.items() if r["set"] == "paper"} == {c.name for c in PAPER_COHORTS}
    assert {n for n, r in rows.items() if r["set"] == "extended"} == {c.name for c in EXTENDED_COHORTS}
    assert rows["hest-visium-bowel"]["slides"] == "73"
