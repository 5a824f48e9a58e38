"""The bytes every HEST-layout writer and the preparation produce, pinned by sha256.

The hashes were recorded with the per-spot code these writers replaced (one PIL crop at a time,
256 patches per h5 write, one writer per caller) on the fixtures below, so a faster or shared
writer must give the same files: the prepared manifests record ``patch_sha256`` and
``patch_key`` (and the committed splits and results name them), so a changed byte would orphan
them. Inputs are lossless images (PNG, TIFF) apart from the legacy ST importer's JPEG, so the
hashes depend on the pinned numpy, h5py, anndata and Pillow only; a hash that changes after
an upgrade of one of them says the bytes moved, which is then a documented, deliberate change.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.fixtures_data import make_stimage_dir

_MANIFEST_HASHES = ("expr_sha256", "patch_sha256", "patch_key")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _tree(folder: Path, *, skip: tuple[str, ...] = (), tmp: Path | None = None) -> dict[str, str]:
    """sha256 (16 hex) of every file under ``folder`` by relative path, ``skip`` names left out;
    ``metadata.csv`` is hashed with ``tmp`` (the importers record their sources' paths) as ``TMP``."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name not in skip:
            data = p.read_bytes()
            if tmp is not None and p.name == "metadata.csv":
                data = data.replace(str(tmp).encode(), b"TMP")
            out[str(p.relative_to(folder))] = hashlib.sha256(data).hexdigest()[:16]
    return out


def _prepared(folder: Path) -> dict[str, str]:
    """A prepared folder's files (not the manifest, which holds dates and paths) and its hashes."""
    out = _tree(folder, skip=("manifest.json",))
    manifest = json.loads((folder / "manifest.json").read_text())
    out["manifest:panel_sha256"] = manifest["panel_sha256"][:16]
    for entry in manifest["slides"]:
        for key in _MANIFEST_HASHES:
            out[f"manifest:{entry['id']}:{key}"] = entry[key][:16]
    return out


def _awkward_stimage_dir(directory: Path) -> None:
    """One Visium slide whose spots exercise every crop case: fractional centres and radii,
    squares overhanging each edge and a corner, one wholly outside, an RGBA PNG to convert."""
    rng = np.random.default_rng(7)
    height, width = 230, 310
    pixels = rng.integers(0, 256, size=(height, width, 4), dtype=np.uint8)
    base = directory / "Visium"
    for sub in ("image", "coord", "gene_exp"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode="RGBA").save(base / "image" / "AWK.png", format="PNG")
    xs = [40.3, 155.5, 290.75, 5.2, 150.0, 309.9, -20.0, 60.25, 240.6, 400.0, 100.1, 200.9]
    ys = [35.6, 115.0, 40.25, 120.4, 3.3, 229.1, 80.0, 190.7, 200.2, 500.0, 100.5, 60.0]
    radius = [33.3, 40.0, 35.5, 36.0, 32.5, 41.7, 34.0, 38.25, 33.0, 35.0, 70.2, 32.0]
    ids = [f"AWK_{k:02d}" for k in range(len(xs))]
    pd.DataFrame({"yaxis": ys, "xaxis": xs, "r": radius}, index=ids).to_csv(base / "coord" / "AWK_coord.csv")
    counts = rng.poisson(3.0, size=(len(ids), 40))
    counts[:, 0] += 1
    pd.DataFrame(counts, index=ids, columns=[f"G{j:02d}" for j in range(40)]).to_csv(
        base / "gene_exp" / "AWK_count.csv"
    )


def _case_stimage(tmp: Path) -> dict[str, str]:
    from stbench.data.prepare import prepare_cohort

    make_stimage_dir(tmp / "a")
    out = prepare_cohort(str(tmp / "a"), tmp / "root")
    return _prepared(out)


def _case_awkward(tmp: Path) -> dict[str, str]:
    from stbench.data import stimage
    from stbench.data.prepare import prepare_cohort

    _awkward_stimage_dir(tmp / "awk")
    coords = stimage.read_coords(tmp / "awk" / "Visium" / "coord" / "AWK_coord.csv")
    stimage.write_patches(tmp / "awk" / "Visium" / "image" / "AWK.png", coords, tmp / "direct.h5")
    out = _prepared(prepare_cohort(str(tmp / "awk"), tmp / "root"))
    out["direct.h5"] = _sha(tmp / "direct.h5")
    return out


def _case_demo(tmp: Path) -> dict[str, str]:
    from stbench.data.demo import generate_demo

    return _tree(generate_demo(tmp / "demo", n_slides=1, genes=300))


def _case_demo_sparse(tmp: Path) -> dict[str, str]:
    from stbench.data.demo_sparse import generate_demo_sparse

    return _tree(generate_demo_sparse(tmp / "sparse", n_slides=1))


def _case_visium(tmp: Path) -> dict[str, str]:
    from stbench.data.importers import import_sections, section_infos
    from tests.test_import_visium import write_spaceranger

    write_spaceranger(tmp / "sample1" / "outs")
    import_sections("visium", section_infos([tmp / "sample1"], patients=["P1"]), tmp / "out", organ="Skin")
    return _tree(tmp / "out", tmp=tmp)


def _case_legacy_st(tmp: Path) -> dict[str, str]:
    from stbench.data.importers import import_sections, section_infos
    from tests.test_import_st import write_legacy_st

    write_legacy_st(tmp / "raw", "SEC1")
    import_sections("st", section_infos([tmp / "raw" / "SEC1.tsv.gz"]), tmp / "out", species="Mus musculus")
    return _tree(tmp / "out", tmp=tmp)


CASES = {
    "stimage": _case_stimage,
    "awkward": _case_awkward,
    "demo": _case_demo,
    "demo_sparse": _case_demo_sparse,
    "visium": _case_visium,
    "legacy_st": _case_legacy_st,
}

EXPECTED: dict[str, dict[str, str]] = {
    "awkward": {
        "counts/AWK.npz": "39f7ded57151ec93",
        "expr/AWK.npy": "fca2d06e32ddb677",
        "gene_names.tsv": "e3b0c44298fc1c14",
        "genes.txt": "728da01c6c8f9b11",
        "hest_layout/metadata.csv": "b906ebeb250734ce",
        "hest_layout/patches/AWK.h5": "cb19c154d84897cc",
        "hest_layout/st/AWK.h5ad": "d7f5da4e864c7bad",
        "spots/AWK.npz": "eba26f72a0421c42",
        "manifest:panel_sha256": "baab6c4657888591",
        "manifest:AWK:expr_sha256": "fca2d06e32ddb677",
        "manifest:AWK:patch_sha256": "cb19c154d84897cc",
        "manifest:AWK:patch_key": "7248174acb15af92",
        "direct.h5": "cb19c154d84897cc",
    },
    "demo": {
        "demo_info.json": "ee009ad733a4d3e4",
        "metadata.csv": "73a18f2ffcabdd3d",
        "patches/DEMO00.h5": "d9cb53c202fc4fe2",
        "st/DEMO00.h5ad": "ea08c7f283d2c7f8",
    },
    "demo_sparse": {
        "demo_info.json": "39278b14dfe4c720",
        "metadata.csv": "12839b140303c31c",
        "patches/SPARSE00.h5": "10ea0920473054d9",
        "st/SPARSE00.h5ad": "33fd1437a61b0c42",
    },
    "legacy_st": {
        "metadata.csv": "fee796113683721b",
        "patches/SEC1.h5": "a8ecf8904fe5f226",
        "st/SEC1.h5ad": "0b805694cc62c308",
    },
    "stimage": {
        "counts/ST_A.npz": "0794f580e1b3efe1",
        "counts/VIS_B.npz": "12fed8aaccaaf87d",
        "expr/ST_A.npy": "503f3b790dd4c4d4",
        "expr/VIS_B.npy": "38c0242034b52c84",
        "gene_names.tsv": "e3b0c44298fc1c14",
        "genes.txt": "09974c17dc8a52e9",
        "hest_layout/metadata.csv": "0b5ee3a0dec58ed7",
        "hest_layout/patches/ST_A.h5": "da3c948d30683fc7",
        "hest_layout/patches/VIS_B.h5": "a2d4bd9753eee0be",
        "hest_layout/st/ST_A.h5ad": "8d4a854f04a06544",
        "hest_layout/st/VIS_B.h5ad": "70c2d97a64100c57",
        "spots/ST_A.npz": "5f2ad535c75b0dc4",
        "spots/VIS_B.npz": "cd09e6540e3a7f4e",
        "manifest:panel_sha256": "2d74e1ff0be12be2",
        "manifest:ST_A:expr_sha256": "503f3b790dd4c4d4",
        "manifest:ST_A:patch_sha256": "da3c948d30683fc7",
        "manifest:ST_A:patch_key": "4bb09f772bb67773",
        "manifest:VIS_B:expr_sha256": "38c0242034b52c84",
        "manifest:VIS_B:patch_sha256": "a2d4bd9753eee0be",
        "manifest:VIS_B:patch_key": "ae7e1f6f2835e0fd",
    },
    "visium": {
        "metadata.csv": "a1457b612b7fe402",
        "patches/sample1.h5": "b015dc275de482de",
        "st/sample1.h5ad": "e847018105a3fe91",
    },
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_writers_give_the_recorded_bytes(case: str, tmp_path: Path) -> None:
    assert CASES[case](tmp_path) == EXPECTED[case]


if __name__ == "__main__":  # print the hashes of today's code, to record them above
    import sys
    import tempfile

    for name in sys.argv[1:] or sorted(CASES):
        with tempfile.TemporaryDirectory() as d:
            print(f"    {name!r}: {json.dumps(CASES[name](Path(d)), indent=8)},")
