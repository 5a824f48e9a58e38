"""Hostile or careless input to ``stbench data import``: every refusal is one sentence, nothing is
written outside ``--out``, and a refused section leaves no ``st/`` or ``patches/`` file."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from stbench.data.importers import import_sections, section_infos
from tests.test_import_st import write_legacy_st
from tests.test_import_visium import GENES, _error, write_spaceranger


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _visium(tmp_path: Path, name: str = "V1") -> Path:
    write_spaceranger(tmp_path / name / "outs")
    return tmp_path / name


@pytest.mark.parametrize("section", ["../../escaped", "/tmp/stbench-hostile-abs", "..", "a/b", "x\ny"])
def test_a_section_id_that_is_not_a_plain_name_is_refused(tmp_path, capsys, section):
    raw = tmp_path / "deep" / "er"
    write_legacy_st(raw, "SEC1")
    out = tmp_path / "deep" / "er" / "cohort"
    err = _error(capsys, ["data", "import", "--format", "st", str(raw / "SEC1.tsv.gz"), "--out", str(out),
                          "--section", section])
    assert "section id" in err and "plain name" in err
    assert _files(out) == []
    assert not any(p.suffix in (".h5ad", ".h5") for p in tmp_path.rglob("*"))
    assert not Path("/tmp/stbench-hostile-abs.h5ad").exists()


def test_a_folder_name_that_is_not_utf8_leaves_no_file(tmp_path, capsys):
    bad = Path(os.fsdecode(bytes(tmp_path) + b"/sec\xff"))
    write_spaceranger(bad / "outs")
    out = tmp_path / "cohort"
    err = _error(capsys, ["data", "import", "--format", "visium", str(bad), "--out", str(out)])
    assert "not valid UTF-8" in err
    assert _files(out) == []


def test_gene_names_that_are_not_utf8_are_refused_before_writing(tmp_path, capsys):
    src = _visium(tmp_path)
    with h5py.File(src / "outs" / "filtered_feature_bc_matrix.h5", "r+") as f:
        names = f["matrix/features/name"][()]
        names[1] = b"ACT\xffB"
        del f["matrix/features/name"]
        f["matrix/features"].create_dataset("name", data=names)
    out = tmp_path / "cohort"
    err = _error(capsys, ["data", "import", "--format", "visium", str(src), "--out", str(out)])
    assert "gene name" in err and "UTF-8" in err
    assert _files(out) == []


def test_legacy_table_that_is_not_utf8_is_one_sentence(tmp_path, capsys):
    raw = tmp_path / "raw"
    write_legacy_st(raw, "SEC1")
    table = raw / "SEC1.tsv"
    table.write_bytes(b"\tGapdh\xff\tActb\n1x1\t1\t2\n")
    (raw / "SEC1.tsv.gz").unlink()
    err = _error(capsys, ["data", "import", "--format", "st", str(table), "--spots", str(raw / "alignment_table_SEC1.tsv"),
                          "--image", str(raw / "SEC1.jpg"), "--out", str(tmp_path / "cohort")])
    assert "cannot be read as a table" in err
    assert _files(tmp_path / "cohort") == []


def test_out_pointing_at_a_file_is_one_sentence(tmp_path, capsys):
    raw = tmp_path / "raw"
    write_legacy_st(raw, "SEC1")
    target = tmp_path / "afile"
    target.write_text("keep me")
    err = _error(capsys, ["data", "import", "--format", "st", str(raw / "SEC1.tsv.gz"), "--out", str(target)])
    assert "is a file" in err
    assert target.read_text() == "keep me"
    err = _error(capsys, ["data", "import", "--format", "st", str(raw / "SEC1.tsv.gz"), "--out", str(target / "sub")])
    assert "a file where a folder is needed" in err


@pytest.mark.parametrize("patch", ["1e9", "inf", "nan", "0", "-5"])
def test_patch_size_out_of_bounds_is_one_sentence(tmp_path, capsys, patch):
    raw = tmp_path / "raw"
    write_legacy_st(raw, "SEC1")
    err = _error(capsys, ["data", "import", "--format", "st", str(raw / "SEC1.tsv.gz"), "--out", str(tmp_path / "c"),
                          "--patch-um", patch])
    assert "--patch-um must be positive and at most" in err
    assert _files(tmp_path / "c") == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through any permission")
def test_out_not_writable_is_one_sentence(tmp_path, capsys):
    raw = tmp_path / "raw"
    write_legacy_st(raw, "SEC1")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    err = _error(capsys, ["data", "import", "--format", "st", str(raw / "SEC1.tsv.gz"), "--out", str(locked / "c")])
    assert "permission denied" in err


def test_a_write_refused_by_the_file_system_is_one_sentence_and_leaves_no_half_section(tmp_path, capsys, monkeypatch):
    """What a full disk or a read-only folder does halfway through a section (simulated: tests run as root)."""
    from stbench.data.importers import common

    raw = tmp_path / "raw"
    write_legacy_st(raw, "SEC1")

    def refuse(section, path, side_px):
        Path(path).write_bytes(b"half")
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(common, "_write_patches", refuse)
    out = tmp_path / "c"
    err = _error(capsys, ["data", "import", "--format", "st", str(raw / "SEC1.tsv.gz"), "--out", str(out)])
    assert "permission denied" in err
    assert _files(out) == []


def _edit_matrix(src: Path, edit) -> None:
    with h5py.File(src / "outs" / "filtered_feature_bc_matrix.h5", "r+") as f:
        data = f["matrix/data"][()].astype(np.float32)
        edit(data)
        del f["matrix/data"]
        f["matrix"].create_dataset("data", data=data)


@pytest.mark.parametrize(
    ("edit", "phrase"),
    [
        (lambda d: d.__setitem__(3, -2.0), "negative count"),
        (lambda d: d.__setitem__(3, np.nan), "NaN or infinite count"),
        (lambda d: d.__setitem__(3, np.inf), "NaN or infinite count"),
    ],
    ids=["negative", "nan", "inf"],
)
def test_counts_that_are_not_raw_counts_are_refused(tmp_path, capsys, edit, phrase):
    src = _visium(tmp_path)
    _edit_matrix(src, edit)
    out = tmp_path / "cohort"
    err = _error(capsys, ["data", "import", "--format", "visium", str(src), "--out", str(out)])
    assert phrase in err
    assert _files(out) == []


def test_a_section_without_genes_is_refused(tmp_path, capsys):
    src = _visium(tmp_path)
    with h5py.File(src / "outs" / "filtered_feature_bc_matrix.h5", "r+") as f:
        kinds = f["matrix/features/feature_type"][()]
        kinds[:] = b"Antibody Capture"
        del f["matrix/features/feature_type"]
        f["matrix/features"].create_dataset("feature_type", data=kinds)
    err = _error(capsys, ["data", "import", "--format", "visium", str(src), "--out", str(tmp_path / "c")])
    assert "0 gene(s)" in err
    assert _files(tmp_path / "c") == []


def test_duplicate_gene_names_are_summed_with_a_note(tmp_path):
    src = _visium(tmp_path)
    with h5py.File(src / "outs" / "filtered_feature_bc_matrix.h5", "r+") as f:
        names = f["matrix/features/name"][()]
        names[2] = names[0]  # KRT8 -> GAPDH: two features with one symbol, as 10x matrices have
        del f["matrix/features/name"]
        f["matrix/features"].create_dataset("name", data=names)
    notes: list[str] = []
    out = tmp_path / "cohort"
    import_sections("visium", section_infos([src]), out, on_note=notes.append)
    assert len(notes) == 1 and "GAPDH" in notes[0] and "summed" in notes[0]
    import anndata as ad

    adata = ad.read_h5ad(out / "st" / "V1.h5ad")
    expected = [g for g in GENES if g != "KRT8"]
    assert list(adata.var_names) == expected
    with h5py.File(src / "outs" / "filtered_feature_bc_matrix.h5") as f:
        n_genes, n_barcodes = f["matrix/shape"][()]
    assert adata.shape == (n_barcodes, len(expected))


def test_matrix_barcodes_missing_from_the_positions_are_refused(tmp_path, capsys):
    src = _visium(tmp_path)
    path = src / "outs" / "spatial" / "tissue_positions.csv"
    table = pd.read_csv(path)
    with h5py.File(src / "outs" / "filtered_feature_bc_matrix.h5") as f:
        first = f["matrix/barcodes"][0].decode()
    table[table["barcode"] != first].to_csv(path, index=False)
    err = _error(capsys, ["data", "import", "--format", "visium", str(src), "--out", str(tmp_path / "c")])
    assert "1 barcode(s) of the matrix" in err and first in err
    assert _files(tmp_path / "c") == []


def test_st_format_given_a_folder_says_it_is_a_folder(tmp_path, capsys):
    raw = tmp_path / "raw"
    write_legacy_st(raw, "SEC1")
    err = _error(capsys, ["data", "import", "--format", "st", str(raw), "--out", str(tmp_path / "c")])
    assert "is a folder, not a file" in err and "does not exist" not in err


def test_two_images_are_named_as_two_candidates(tmp_path, capsys):
    src = tmp_path / "V1"
    write_spaceranger(src / "outs", image_name=None)
    from tests.test_import_visium import _image

    _image(src / "outs" / "a.tif")
    _image(src / "outs" / "b.png")
    err = _error(capsys, ["data", "import", "--format", "visium", str(src), "--out", str(tmp_path / "c")])
    assert "2 candidate images" in err and "a.tif" in err and "b.png" in err
    assert "no full-resolution image" not in err
