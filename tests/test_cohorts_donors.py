"""The STImage donor table: derived from slide names and studies, committed, and what folds group by."""

from __future__ import annotations

import pandas as pd
import pytest

from stbench.protocol.cohorts import COHORTS
from stbench.protocol.donors import DONOR_TABLE, derive_donors, read_donor_table, stimage_cohort_slides
from stbench.errors import StbenchError
from stbench.protocol.splits import load_split


@pytest.fixture(scope="module")
def stimage_meta(shared_data) -> pd.DataFrame:
    return pd.read_csv(shared_data / "stimage" / "meta_all_gene02122025.csv", encoding="utf-8-sig", dtype={"pmid": str})


def _donors(metadata: pd.DataFrame, prefix: str) -> pd.Series:
    table = derive_donors(metadata, [s for s in metadata["slide"] if s.startswith(prefix)])
    return table.set_index("slide")["donor"]


def test_committed_table_is_the_derivation_from_the_real_metadata(stimage_meta, tmp_path):
    from stbench.protocol.donors import main

    stimage_meta.to_csv(tmp_path / "m.csv", index=False)
    assert main([str(tmp_path / "m.csv"), str(tmp_path / "d.csv")]) == 0
    assert (tmp_path / "d.csv").read_bytes() == DONOR_TABLE.read_bytes()
    table = pd.read_csv(DONOR_TABLE, dtype=str, keep_default_na=False)
    assert table["slide"].tolist() == stimage_cohort_slides(stimage_meta)
    assert (table["source"] != "").all() and (table["study"] != "").all()


def test_breast_st_patients_follow_the_slide_names(stimage_meta):
    andersson = _donors(stimage_meta, "Human_Breast_Andersson_10142021_ST_")
    assert len(andersson) == 36 and sorted(set(andersson)) == [f"Andersson:{c}" for c in "ABCDEFGH"]
    assert andersson["Human_Breast_Andersson_10142021_ST_E3"] == "Andersson:E"
    he = _donors(stimage_meta, "Human_Breast_He_06222020_ST_")
    assert len(he) == 68 and he.nunique() == 23
    assert he["Human_Breast_He_06222020_ST_BC23209_C1"] == he["Human_Breast_He_06222020_ST_BC23209_D1"] == "He:BC23209"
    stahl = _donors(stimage_meta, "Human_Breast_Stahl_")
    assert len(stahl) == 4 and set(stahl) == {"Stahl:tumour"}


def test_brain_donors_of_maynard_louise_and_kwon(stimage_meta):
    maynard = _donors(stimage_meta, "Human_Brain_Maynard_")
    assert len(maynard) == 12
    assert maynard.value_counts().to_dict() == {"LIBD:Br5292": 4, "LIBD:Br5595": 4, "LIBD:Br8100": 4}
    louise = _donors(stimage_meta, "Human_Brain_Louise_")
    assert len(louise) == 30 and louise.nunique() == 10
    assert louise["Human_Brain_Louise_02152023_Visium_Br2720_mid"] == "LIBD:Br2720"
    kwon = _donors(stimage_meta, "Human_Brain_Kwon_")
    assert kwon["Human_Brain_Kwon_10162023_Visium_V10A27004_A1_Br3874"] == "LIBD:Br3874" and kwon.nunique() == 4


def test_split_groups_are_the_donor_table():
    donors = read_donor_table()
    for spec in COHORTS.values():
        if spec.source == "stimage":
            split = load_split(spec.name)
            assert split.groups == {s: f"donor:{donors[s]}" for s in split.slides}


def test_unstated_donors_group_the_whole_study():
    slides = [
        "GSE1_GSM1", "GSE1_GSM2", "GSE2_GSM3", "GSE3_GSM4",
        "Mouse_Brain_10X_06232020_Visium_Sagittal_Anterior_Section_1",
        "Mouse_Brain_10X_06232020_Visium_Sagittal_Posterior_Section_2",
        "Human_Lung_Smith_01012020_Visium_S1",
        "Human_Heart_Kuppe_10082022_Visium_Visium_3_CK281", "Human_Heart_Kuppe_10082022_Visium_AKK002_157779",
    ]
    meta = pd.DataFrame({"slide": slides, "pmid": ["11", "11", "11", None, None, None, "5", "9", "9"]})
    table = derive_donors(meta, meta["slide"]).set_index("slide")
    assert table.loc["GSE1_GSM1", "donor"] == table.loc["GSE2_GSM3", "donor"] == "PMID:11"  # two series, one paper
    assert table.loc["GSE3_GSM4", "donor"] == "GEO:GSE3"
    sagittal = table.loc[slides[4:6], "donor"]
    assert set(sagittal) == {"10X:Mouse_Brain_06232020"}  # serial sections of one release
    assert table.loc["Human_Lung_Smith_01012020_Visium_S1", "donor"] == "study:Human_Lung_Smith_01012020"
    assert table.loc["Human_Heart_Kuppe_10082022_Visium_Visium_3_CK281", "donor"] == "Kuppe:CK-samples"
    assert table.loc["Human_Heart_Kuppe_10082022_Visium_AKK002_157779", "donor"] == "Kuppe:AKK002"
    grouped = table[table["source"].str.startswith("study grouped")].index
    assert set(grouped) == set(meta["slide"]) - {"Human_Heart_Kuppe_10082022_Visium_AKK002_157779"}
    with pytest.raises(StbenchError, match="matches no donor rule"):
        derive_donors(meta, ["weird"])
