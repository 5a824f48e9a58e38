"""Downloads against a local fake of the Hugging Face hub (no network)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from stbench.data.hub import DEFAULT_REVISIONS, REPOS, download_cohort
from stbench.data.prepare import prepare_and_load
from stbench.errors import StbenchError
from tests.fixtures_data import FakeHub, make_hest_dir, make_stimage_dir, use_fake_hub, write_split_file


def _files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture
def hest_files(tmp_path: Path) -> dict[str, bytes]:
    """A 3-slide HEST snapshot plus the files a cohort must not fetch (WSIs, other slides)."""
    make_hest_dir(tmp_path / "hub-src", n_slides=3, metadata_name="HEST_v1_1_0.csv")
    files = _files(tmp_path / "hub-src")
    for sid in ("S0", "S1", "S2"):
        files[f"metadata/{sid}.json"] = json.dumps({"id": sid}).encode()
        files[f"wsis/{sid}.tif"] = b"a whole-slide image"
        files[f"thumbnails/{sid}_downscaled_fullres.jpeg"] = b"thumb"
    files["README.md"] = b"# HEST"
    return files


@pytest.fixture
def splits(tmp_path: Path, monkeypatch) -> Path:
    folder = tmp_path / "splits"
    monkeypatch.setenv("STBENCH_SPLITS", str(folder))
    write_split_file(folder, "hest-st-breast", ["S0", "S2"])
    write_split_file(folder, "stimage-st-breast", ["ST_A"])
    return folder


def test_download_fetches_only_the_cohorts_files_once(tmp_path, monkeypatch, hest_files, splits) -> None:
    root = tmp_path / "root"
    with FakeHub(REPOS["hest"], hest_files, commit=DEFAULT_REVISIONS["hest"]) as hub:
        use_fake_hub(monkeypatch, hub, tmp_path / "hf-home")
        raw = download_cohort("hest-st-breast", root)  # at the pinned default revision
        assert raw == root / "raw" / "hest"
        want = {"HEST_v1_1_0.csv"} | {
            f"{folder}/{sid}.{ext}"
            for sid in ("S0", "S2")
            for folder, ext in (("st", "h5ad"), ("patches", "h5"), ("metadata", "json"))
        }
        assert sorted(hub.downloads) == sorted(want)
        for name in want:
            assert (raw / name).read_bytes() == hest_files[name]
        assert not (raw / "wsis").exists() and not (raw / "st" / "S1.h5ad").exists()
        record = json.loads((raw / ".stbench-download.json").read_text())
        assert record["cohorts"]["hest-st-breast"]["commit"] == hub.commit
        assert record["cohorts"]["hest-st-breast"]["revision"] == DEFAULT_REVISIONS["hest"]

        hub.downloads.clear()
        download_cohort("hest-st-breast", root)
        assert hub.downloads == []  # complete files are not fetched again

    cohort = prepare_and_load("hest-st-breast", root)
    assert cohort.revision == hub.commit
    assert [s.id for s in cohort.slides] == ["S0", "S2"]


def test_stimage_download_needs_no_token(tmp_path, monkeypatch, splits) -> None:
    make_stimage_dir(tmp_path / "hub-src")
    files = _files(tmp_path / "hub-src")
    with FakeHub(REPOS["stimage"], files) as hub:
        use_fake_hub(monkeypatch, hub, tmp_path / "hf-home")
        monkeypatch.delenv("HF_TOKEN")
        download_cohort("stimage-st-breast", tmp_path / "root", revision="v1")
        assert sorted(hub.downloads) == [
            "ST/coord/ST_A_coord.csv",
            "ST/gene_exp/ST_A_count.csv",
            "ST/image/ST_A.png",
            "meta/meta_all_gene02122025.csv",
        ]
    record = json.loads((tmp_path / "root" / "raw" / "stimage" / ".stbench-download.json").read_text())
    assert record["cohorts"]["stimage-st-breast"]["revision"] == "v1"


@pytest.mark.parametrize("status, code", [(401, None), (403, "GatedRepo")])
def test_refused_access_is_one_clear_sentence(tmp_path, monkeypatch, hest_files, splits, status, code) -> None:
    with FakeHub(REPOS["hest"], hest_files) as hub:
        use_fake_hub(monkeypatch, hub, tmp_path / "hf-home")
        hub.status, hub.error_code = status, code
        with pytest.raises(StbenchError, match=rf"The hub refused access to MahmoodLab/hest \(HTTP {status}\): accept"):
            download_cohort("hest-st-breast", tmp_path / "root")


def test_unknown_revision(tmp_path, monkeypatch, hest_files, splits) -> None:
    with FakeHub(REPOS["hest"], hest_files) as hub:
        use_fake_hub(monkeypatch, hub, tmp_path / "hf-home")
        hub.status, hub.error_code = 404, "RevisionNotFound"
        with pytest.raises(StbenchError, match="Revision 'v9' does not exist in MahmoodLab/hest"):
            download_cohort("hest-st-breast", tmp_path / "root", revision="v9")


def test_offline_mode_and_missing_token(tmp_path, monkeypatch, hest_files, splits) -> None:
    with FakeHub(REPOS["hest"], hest_files) as hub:
        use_fake_hub(monkeypatch, hub, tmp_path / "hf-home")
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        with pytest.raises(StbenchError, match="HF_HUB_OFFLINE is set"):
            download_cohort("hest-st-breast", tmp_path / "root")
        monkeypatch.delenv("HF_HUB_OFFLINE")
        monkeypatch.delenv("HF_TOKEN")
        with pytest.raises(StbenchError, match="HEST-1k is gated: accept its terms .* HF_TOKEN or run `hf auth login`"):
            download_cohort("hest-st-breast", tmp_path / "root")
        assert hub.downloads == []


def test_unreachable_hub(tmp_path, monkeypatch, hest_files, splits) -> None:
    with FakeHub(REPOS["hest"], hest_files) as hub:
        use_fake_hub(monkeypatch, hub, tmp_path / "hf-home")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("STBENCH_HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(StbenchError, match=f"Cannot reach the Hugging Face hub at http://127.0.0.1:{port}"):
        download_cohort("hest-st-breast", tmp_path / "root")


def test_demo_and_unknown_cohorts_are_not_downloadable(tmp_path) -> None:
    with pytest.raises(StbenchError, match="demo cohort is generated locally"):
        download_cohort("demo", tmp_path)
    with pytest.raises(StbenchError, match="Unknown cohort"):
        download_cohort("hest-skin", tmp_path)
