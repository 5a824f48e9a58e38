"""Hostile paths: a name or field from data never leads a write (or a read) outside its folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stbench.cli import main
from stbench.errors import StbenchError
from stbench.paths import prepared_dir
from stbench.results.document import artefact_dir, result_path
from stbench.untrusted import inside, plain_name
from tests.hostile_helpers import copy_results, kept_folder, tree

BAD_NAMES = ["..", ".", "../x", "a/b", "/etc", "a\\b", "tab\there", "", "x" * 300, "nul\0"]


@pytest.mark.parametrize("name", BAD_NAMES, ids=range(len(BAD_NAMES)))
def test_path_builders_refuse_names_that_are_not_plain(tmp_path, name):
    for build in (lambda: result_path(tmp_path, name, "m", 0), lambda: result_path(tmp_path, "c", name, 0),
                  lambda: artefact_dir(tmp_path, name, "m", 0), lambda: prepared_dir(name, tmp_path)):
        with pytest.raises(StbenchError) as caught:
            build()
        assert "\n" not in str(caught.value)
    assert plain_name("hest-visium-breast_2.v1", "cohort name") == "hest-visium-breast_2.v1"


def test_inside_keeps_relative_paths_in_their_folder(tmp_path):
    (tmp_path / "fold0").mkdir()
    assert inside(tmp_path / "fold0", "predictions", "field") == (tmp_path / "fold0" / "predictions").resolve()
    for bad in ("../fold1", "/tmp", "predictions/../../x", "", None, 3):
        with pytest.raises(StbenchError):
            inside(tmp_path / "fold0", bad, "field")
    (tmp_path / "fold0" / "link").symlink_to(tmp_path.parent)  # a link that leads out is refused too
    with pytest.raises(StbenchError, match="points outside"):
        inside(tmp_path / "fold0", "link", "field")


def _edit(path: Path, edit) -> None:
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


@pytest.mark.slow
@pytest.mark.parametrize("field", ["ABSOLUTE", "../../../../outside", "predictions/../../fold1"])
def test_a_predictions_field_leading_outside_is_refused_by_validate_and_rescore(tmp_path, tmp_path_factory, capsys, field):
    results = copy_results(tmp_path, tmp_path_factory)
    doc_path = results / "demo" / "ext" / "fold0.json"
    decoy = tmp_path / "decoy"  # a copy of the real predictions outside the results folder
    import shutil

    shutil.copytree(kept_folder(results), decoy)
    value = str(decoy) if field == "ABSOLUTE" else field
    _edit(doc_path, lambda d: d.__setitem__("predictions", value))
    before, outside = tree(results), tree(decoy)
    assert main(["validate", str(results)]) == 1
    out = capsys.readouterr()
    assert "points outside" in out.out + out.err and "Traceback" not in out.err
    main(["rescore", "--results", str(results)])
    out = capsys.readouterr()
    assert "points outside" in out.out + out.err and "Traceback" not in out.err
    assert tree(results) == before and tree(decoy) == outside


@pytest.mark.slow
@pytest.mark.parametrize(("section", "name"), [("cohort", "../../escape"), ("cohort", "/tmp/abs"), ("model", "../m")])
def test_a_name_with_a_path_in_a_result_is_refused_everywhere(tmp_path, tmp_path_factory, capsys, section, name):
    results = copy_results(tmp_path, tmp_path_factory)
    doc_path = results / "demo" / "ext" / "fold0.json"
    _edit(doc_path, lambda d: d[section].__setitem__("name", name))
    before = tree(tmp_path)
    assert main(["validate", str(results)]) == 1
    assert main(["report", "--results", str(results), "--out", str(tmp_path / "board" / "demo.md")]) in (0, 2)
    main(["rescore", "--results", str(results)])
    main(["status", "--results", str(results)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert f"{section} name {name!r} is not a plain name" in captured.out + captured.err
    created = set(tree(tmp_path)) - set(before)
    assert all(p.startswith("board/") for p in created), created
    assert not Path("/tmp/abs").exists() and not (tmp_path.parent / "escape").exists()
