"""The command line under careless use: folders that are files or not writable, missing data,
narrow terminals and pipes: one true sentence each, never a traceback."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from stbench.cli import main
from stbench.protocol.cohorts import COHORTS


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and err.count("stbench: error:") == 1
    return err.splitlines()[-1]


def test_list_piped_prints_every_cohort_name_whole(tmp_path, capsys):
    assert main(["list", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = [line.split("\t") for line in out.splitlines() if "\t" in line]
    names = {row[0] for row in rows}
    assert set(COHORTS) <= names
    assert "…" not in out


def test_list_on_a_narrow_terminal_keeps_names_whole(tmp_path, capsys, monkeypatch):
    from stbench.cli import listing

    buffer = io.StringIO()
    monkeypatch.setattr(listing, "Console", lambda: Console(file=buffer, force_terminal=True, width=60, color_system=None))
    assert main(["list", "--root", str(tmp_path)]) == 0
    text = buffer.getvalue()
    longest = max(COHORTS, key=len)
    assert re.search(rf"\b{re.escape(longest)}\b", text), text
    assert all(re.search(rf"(^|\W){re.escape(name)}(\W|$)", text, re.M) for name in COHORTS)


def test_a_cohort_not_downloaded_counts_slides_and_the_table_apart(tmp_path, capsys):
    err = _error(capsys, ["data", "prepare", "--cohort", "hest-st-breast", "--root", str(tmp_path)])
    n = len(__import__("stbench.protocol.splits", fromlist=["load_split"]).load_split("hest-st-breast").slides)
    assert f"{n} of {n} slides and the metadata table missing" in err
    assert not re.search(r"\b(\d+) of (\d+)\b", err.replace(f"{n} of {n}", "")), err


def test_a_data_root_that_is_a_file_is_one_sentence(tmp_path, capsys, monkeypatch):
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("STBENCH_DATA", str(tmp_path / "afile"))
    err = _error(capsys, ["data", "prepare", "--cohort", "demo"])
    assert "a file where a folder is needed" in err


@pytest.mark.parametrize("error", [PermissionError(13, "Permission denied", "/some/results/demo"),
                                   NotADirectoryError(20, "Not a directory", "/some/results"),
                                   IsADirectoryError(21, "Is a directory", "/some/out.md"),
                                   FileExistsError(17, "File exists", "/some/results")])
def test_file_system_refusals_anywhere_are_one_sentence(capsys, monkeypatch, error):
    """Any command: tests run as root, so a real read-only folder cannot be made; the refusal is raised instead."""
    from stbench.cli import listing

    def refuse(root):
        raise error

    monkeypatch.setattr(listing, "print_listing", refuse)
    err = _error(capsys, ["list"])
    assert error.filename in err and err.endswith(".")


@pytest.mark.skipif(__import__("os").geteuid() == 0, reason="root writes through any permission")
def test_a_results_folder_not_writable_is_one_sentence(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    (tmp_path / "preds").mkdir()
    err = _error(capsys, ["score", "--cohort", "demo", "--fold", "0", "--predictions", str(tmp_path / "preds"),
                          "--name", "x", "--results", str(locked / "r")])
    assert "permission denied" in err or "No predictions" in err

