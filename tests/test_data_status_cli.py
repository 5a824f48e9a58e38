"""``cohort_status`` and the ``stbench data`` sub-commands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from stbench.cli import data as data_cli
from stbench.protocol.cohorts import COHORTS, PAPER_COHORTS
from stbench.data.inventory import cohort_status
from stbench.errors import StbenchError
from tests.fixtures_data import make_hest_dir, write_split_file


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    data_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_status_follows_download_and_preparation(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "root"
    monkeypatch.setenv("STBENCH_SPLITS", str(tmp_path / "splits"))
    write_split_file(tmp_path / "splits", "hest-st-breast", ["S0", "S1", "S2"])
    rows = {r["name"]: r for r in cohort_status(root)}
    assert list(rows) == list(COHORTS) and list(rows)[0] == "demo"
    assert rows["demo"]["downloaded"] == "built-in"
    assert rows["hest-st-brain"]["downloaded"] == "no split file" and rows["hest-st-brain"]["slides"] is None
    breast = rows["hest-st-breast"]
    assert (breast["slides"], breast["downloaded"], breast["prepared"], breast["size_bytes"]) == (3, "no", False, 0)

    raw = root / "raw" / "hest"
    make_hest_dir(raw, metadata_name="HEST_v1_1_0.csv")
    (raw / "st" / "S2.h5ad").unlink()
    breast = {r["name"]: r for r in cohort_status(root)}["hest-st-breast"]
    assert breast["downloaded"] == "partial (2/3)" and breast["raw_bytes"] > 0

    make_hest_dir(raw, metadata_name="HEST_v1_1_0.csv")
    args = _parse(["data", "prepare", "--cohort", "hest-st-breast", "--root", str(root)])
    assert args.func(args) == 0
    breast = {r["name"]: r for r in cohort_status(root)}["hest-st-breast"]
    manifest = json.loads((root / "prepared" / "hest-st-breast" / "manifest.json").read_text())
    assert breast["downloaded"] == "complete" and breast["prepared"] is True
    assert (breast["n_genes"], breast["n_spots"]) == (manifest["n_genes"], manifest["n_spots"])
    assert breast["size_bytes"] == breast["raw_bytes"] + breast["prepared_bytes"] > breast["raw_bytes"]


def test_status_command_prints_a_table(tmp_path: Path, capsys) -> None:
    args = _parse(["data", "status", "--root", str(tmp_path)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "hest-visium-skin" in out and "stimage-visium-brain" in out and "built-in" in out


def test_prepare_command_with_a_path(tmp_path: Path, capsys) -> None:
    make_hest_dir(tmp_path / "mine", n_slides=2)
    args = _parse(["data", "prepare", "--cohort", str(tmp_path / "mine"), "--root", str(tmp_path / "root")])
    assert args.func(args) == 0
    assert "Prepared local-" in capsys.readouterr().out
    args = _parse(["data", "prepare", "--cohort", str(tmp_path / "nope"), "--root", str(tmp_path / "root")])
    with pytest.raises(StbenchError, match="does not exist"):
        args.func(args)


def test_download_all_means_the_six_paper_cohorts(tmp_path: Path, monkeypatch, capsys) -> None:
    calls = []
    monkeypatch.setattr(
        "stbench.data.hub.download_cohort",
        lambda name, root, *, revision: calls.append((name, root, revision)) or Path("/x"),
    )
    args = _parse(["data", "download", "--cohort", "all", "--root", str(tmp_path), "--revision", "abc"])
    assert args.func(args) == 0
    assert calls == [(c.name, tmp_path, "abc") for c in PAPER_COHORTS]
