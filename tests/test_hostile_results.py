"""Hostile results and predictions: values refused after the stored-dtype bound with nothing left
behind, oversized kept predictions refused by name, file modes that follow the umask."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

from stbench.cli import main
from tests.hostile_helpers import copy_results, kept_folder, scored_results, tree, write_predictions

pytestmark = pytest.mark.slow  # they share one scored demo fold (~40 s to prepare the demo once)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("value", "dtype"), [(65520.0, np.float32), (1e300, np.float64), (np.nan, np.float32)])
def test_values_beyond_the_bound_leave_no_file(tmp_path, tmp_path_factory, capsys, value, dtype):
    from stbench.data.folds import load_fold

    scored_results(tmp_path_factory)  # the demo is prepared
    preds = write_predictions(tmp_path / "preds", load_fold("demo", 0), value=value, dtype=dtype)
    assert main(["score", "--cohort", "demo", "--fold", "0", "--predictions", str(preds), "--name", "big",
                 "--results", str(tmp_path / "results")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and ("beyond ±10000" in err or "NaN or infinite" in err)
    assert not (tmp_path / "results" / "demo" / "big").exists()


def test_a_failing_score_keeps_the_old_result_untouched(tmp_path, tmp_path_factory, capsys):
    from stbench.data.folds import load_fold

    results = copy_results(tmp_path, tmp_path_factory)
    before = tree(results)
    preds = write_predictions(tmp_path / "preds", load_fold("demo", 0), value=1e300, dtype=np.float64)
    assert main(["score", "--cohort", "demo", "--fold", "0", "--predictions", str(preds), "--name", "ext",
                 "--results", str(results)]) == 2
    assert tree(results) == before


@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_results_and_predictions_follow_the_umask(tmp_path, tmp_path_factory, umask, expected):
    from stbench.data.folds import load_fold

    scored_results(tmp_path_factory)
    preds = write_predictions(tmp_path / "preds", load_fold("demo", 0))
    old = os.umask(umask)
    try:
        assert main(["score", "--cohort", "demo", "--fold", "0", "--predictions", str(preds), "--name", "m",
                     "--results", str(tmp_path / "results")]) == 0
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "results").rglob("*") if p.is_file()]
    n_test = len(load_fold("demo", 0).test)
    assert len(files) == 1 + n_test and {_mode(p) for p in files} == {expected}  # the result, one .npz per slide


def test_rescore_keeps_the_modes_of_the_files_it_rewrites(tmp_path, tmp_path_factory, capsys):
    results = copy_results(tmp_path, tmp_path_factory)
    doc = results / "demo" / "ext" / "fold0.json"
    kept = sorted(kept_folder(results).glob("*.npz"))
    doc.chmod(0o644)
    for path in kept:
        path.chmod(0o664)
    old = os.umask(0o077)  # a strict umask must not narrow files that exist
    try:
        assert main(["rescore", "--results", str(results)]) == 0
    finally:
        os.umask(old)
    assert "rescored" in capsys.readouterr().out.lower()
    now = sorted(kept_folder(results).glob("*.npz"))  # the same labels: the folder is kept
    assert [p.name for p in now] == [p.name for p in kept]
    assert _mode(doc) == 0o644 and {_mode(p) for p in now} == {0o664} and _mode(now[0].parent) == 0o755


def _huge_header() -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f2", "fortran_order": False, "shape": (10**6, 2 * 10**6)})
    return buffer.getvalue() + b"\0" * 64


@pytest.mark.parametrize("damage", ["terabytes", "text", "bomb"])
def test_a_damaged_kept_prediction_is_one_sentence_in_validate_rescore_and_report(tmp_path, tmp_path_factory, capsys, damage):
    results = copy_results(tmp_path, tmp_path_factory)
    target = sorted(kept_folder(results).glob("*.npz"))[0]
    if damage == "text":
        target.write_text("not an npz\n")
    else:
        with np.load(target) as data:
            members = {k: data[k] for k in data.files}
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for key, array in members.items():
                if key == "X":
                    continue
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, array)
                archive.writestr(f"{key}.npy", buffer.getvalue())
            if damage == "terabytes":
                archive.writestr("X.npy", _huge_header())
            else:  # 200 MB of zeros in ~200 kB
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, np.zeros((10**4, 10**4), np.float16))
                archive.writestr("X.npy", buffer.getvalue())
    assert main(["validate", str(results)]) == 1
    main(["rescore", "--results", str(results)])
    assert main(["report", "--results", str(results), "--out", str(tmp_path / "board" / "demo.md")]) == 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "Traceback" not in text and "MemoryError" not in text
    assert text.count(target.name) >= 2  # validate and rescore each name the file
    assert (tmp_path / "board" / "demo.md").is_file()


def test_a_results_folder_that_is_a_file_is_one_sentence(tmp_path, tmp_path_factory, capsys):
    from stbench.data.folds import load_fold

    scored_results(tmp_path_factory)
    preds = write_predictions(tmp_path / "preds", load_fold("demo", 0))
    (tmp_path / "afile").write_text("keep")
    assert main(["score", "--cohort", "demo", "--fold", "0", "--predictions", str(preds), "--name", "m",
                 "--results", str(tmp_path / "afile")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "a file where a folder is needed" in err
    assert (tmp_path / "afile").read_text() == "keep"


@pytest.mark.parametrize("where", ["afile/x.md", "afile"])
def test_a_report_out_under_or_on_a_file_is_one_sentence(tmp_path, tmp_path_factory, capsys, where):
    results = copy_results(tmp_path, tmp_path_factory)
    (tmp_path / "afile").write_text("keep")
    out = tmp_path / where
    if where == "afile":  # --html must be a folder
        argv = ["report", "--results", str(results), "--html", str(out)]
    else:
        argv = ["report", "--results", str(results), "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "afile" in err and err.count("stbench: error:") == 1
    assert (tmp_path / "afile").read_text() == "keep"


_KILLER = """
import os, signal, sys
from stbench.cli import main
from stbench.results import document, predictions
from stbench.submit import score
from stbench.grid import cell

point = sys.argv[1]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def after(module, name, count=1):
    original, seen = getattr(module, name), [0]
    def wrapper(*args, **kwargs):
        out = original(*args, **kwargs)
        seen[0] += 1
        if seen[0] == count:
            die()
        return out
    setattr(module, name, wrapper)

def before(module, name):
    def wrapper(*args, **kwargs):
        die()
    setattr(module, name, wrapper)

if point == "first-slide":
    after(score, "write_slide_predictions"); after(cell, "write_slide_predictions")
elif point == "staged":
    before(predictions, "folder_sha256")
elif point == "before-document":
    before(document, "write_json_atomic")
elif point == "after-document":
    after(document, "write_json_atomic")
sys.exit(main(sys.argv[2:]))
"""


def _pair(results: Path, model: str) -> tuple[bytes, dict[str, bytes]]:
    """The result document's bytes and the files of the predictions folder it names."""
    doc = results / "demo" / model / "fold0.json"
    return doc.read_bytes(), tree(kept_folder(results, model))


@pytest.mark.parametrize("point", ["first-slide", "staged", "before-document", "after-document", None])
@pytest.mark.parametrize("command", ["score", "run"])
def test_a_killed_score_or_run_overwrite_leaves_the_old_pair_or_the_new_one(tmp_path, tmp_path_factory, command, point):
    import json
    import subprocess
    import sys

    from stbench.data.folds import load_fold
    from stbench.results.predictions import folder_sha256

    scored_results(tmp_path_factory)
    fold = load_fold("demo", 0)
    results = tmp_path / "results"
    model = "ext" if command == "score" else "mean"
    if command == "score":
        argv = ["score", "--cohort", "demo", "--fold", "0", "--name", "ext", "--results", str(results), "--predictions"]
        assert main([*argv, str(write_predictions(tmp_path / "old", fold))]) == 0
        argv.append(str(write_predictions(tmp_path / "new", fold, value=3.0)))  # other predictions, other metrics
    else:
        argv = ["run", "--model", "mean", "--cohort", "demo", "--folds", "0", "--results", str(results)]
        assert main(argv) == 0
        argv.append("--overwrite")
    old_doc, old_files = _pair(results, model)
    script = tmp_path / "killer.py"
    script.write_text(_KILLER)
    done = subprocess.run([sys.executable, str(script), str(point), *argv], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == (0 if point is None else -9), done.stderr
    new_doc, new_files = _pair(results, model)
    folder = kept_folder(results, model)
    if new_doc == old_doc:  # the old pair, whole
        assert new_files == old_files
        assert point in ("first-slide", "staged", "before-document")
    else:  # the new pair: the document names the hash of the predictions it was computed from
        assert point in ("after-document", None)
        assert folder.name == f"predictions-{folder_sha256(folder)[:16]}"
        assert json.loads(new_doc)["predictions"] == folder.name and new_files
    leftovers = [p.name for p in folder.parent.glob("predictions*") if p.name != folder.name]
    assert leftovers == [] or point in ("before-document", "after-document")  # an unnamed folder at worst
    if point is not None:  # the next write completes and removes what the kill left (staging after an hour)
        for staging in folder.parent.glob(".predictions-*.tmp"):
            os.utime(staging, (0, 0))
        assert main(argv if command == "score" else [*argv[:-1], "--overwrite"]) == 0
        folder = kept_folder(results, model)
        assert [p.name for p in folder.parent.iterdir() if "predictions" in p.name] == [folder.name]


def _second_model(results: Path, name: str, edit=None) -> Path:
    """A copy of ``demo/ext`` as model ``name`` (folder and document), optionally edited."""
    import json
    import shutil

    shutil.copytree(results / "demo" / "ext", results / "demo" / name)
    path = results / "demo" / name / "fold0.json"
    doc = json.loads(path.read_text())
    doc["model"]["name"] = name
    if edit is not None:
        edit(doc)
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("name", ["a|b", "<script>x</script>", "*bold*_[link](http://x)", "back`tick"])
def test_model_names_are_escaped_in_the_markdown_tables(tmp_path, tmp_path_factory, name):
    from stbench.report.markdown import md

    results = copy_results(tmp_path, tmp_path_factory)
    if "/" in name:  # a name with a path separator is refused (tests/test_hostile_paths.py); keep the rest
        name = name.replace("/", "")
    _second_model(results, name)
    assert main(["report", "--results", str(results), "--out", str(tmp_path / "board" / "demo.md")]) == 0
    text = (tmp_path / "board" / "demo.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| cohort |"))
    assert header.count(" | ") == 2 and md(name) in header  # cohort, ext, the name: three cells
    assert "<script>" not in text


@pytest.mark.parametrize("damage", ["string metric", "string per-slide metric", "not json", "metrics list"])
def test_every_invalid_result_is_named_and_the_rest_renders(tmp_path, tmp_path_factory, capsys, damage):
    results = copy_results(tmp_path, tmp_path_factory)
    edits = {
        "string metric": lambda d: d["metrics"].__setitem__("pearson", "0.9"),
        "string per-slide metric": lambda d: next(iter(d["per_slide"].values())).__setitem__("pearson", "high"),
        "metrics list": lambda d: d.__setitem__("metrics", [1, 2]),
        "not json": None,
    }
    bad = _second_model(results, "bad", edits[damage])
    if damage == "not json":
        bad.write_text('{"schema_version": 2, "metr')
    assert main(["report", "--results", str(results), "--out", str(tmp_path / "board" / "demo.md")]) == 0
    captured = capsys.readouterr()
    text = (tmp_path / "board" / "demo.md").read_text()
    assert str(bad) in captured.err + captured.out and "Traceback" not in captured.err
    assert "## Files left out" in text and "fold0.json" in text.split("## Files left out")[1]
    header = next(line for line in text.splitlines() if line.startswith("| cohort |"))
    assert "ext" in header and "bad" not in header


@pytest.mark.parametrize("damage", ["truncated", "string metric"])
def test_status_shows_an_invalid_result_as_invalid_by_name(tmp_path, tmp_path_factory, damage):
    import json

    from stbench.grid.status import cell_state

    results = copy_results(tmp_path, tmp_path_factory)
    path = results / "demo" / "ext" / "fold0.json"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    else:  # the report leaves it out by the same definition
        doc = json.loads(path.read_text())
        doc["metrics"]["pearson"] = "0.9"
        path.write_text(json.dumps(doc))
    state = cell_state(results, "demo", "ext", 0, None)
    assert state.state == "invalid" and str(path) in state.detail
    assert ("not valid JSON" if damage == "truncated" else "metric pearson is '0.9', not a number") in state.detail


def _scored_numbers(doc: dict) -> str:
    """Every number scoring puts in a result, as JSON text (floats written exactly, NaN as NaN)."""
    import json

    keys = ("metrics", "per_slide", "excluded", "n_test_spots", "clustering_params", "metrics_version", "predictions")
    return json.dumps({k: doc[k] for k in keys}, sort_keys=True)


def test_score_then_rescore_changes_no_number(tmp_path, tmp_path_factory, capsys):
    import json

    results = copy_results(tmp_path, tmp_path_factory)
    path = results / "demo" / "ext" / "fold0.json"
    before = json.loads(path.read_text())
    files = tree(kept_folder(results))
    assert main(["rescore", "--results", str(results)]) == 0
    after = json.loads(path.read_text())
    assert _scored_numbers(after) == _scored_numbers(before) and tree(kept_folder(results)) == files


_MISSING_FOLDS = "demo/ext: fold(s) 1, 2, 3, 4 are missing."  # one scored fold of five


def _validate_edited(results: Path, edit) -> list[str]:
    import json

    from stbench.submit.validate import validate

    path = results / "demo" / "ext" / "fold0.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    return [p for p in validate(results) if p != _MISSING_FOLDS]


def test_validate_recomputes_an_untouched_result_exactly(tmp_path, tmp_path_factory):
    assert _validate_edited(copy_results(tmp_path, tmp_path_factory), lambda doc: None) == []


def test_validate_catches_a_per_slide_pearson_raised_by_0_2(tmp_path, tmp_path_factory):
    def edit(doc):
        for values in doc["per_slide"].values():
            values["pearson"] += 0.2

    problems = _validate_edited(copy_results(tmp_path, tmp_path_factory), edit)
    slides = json_doc_slides(tmp_path)
    assert len(problems) == len(slides) and all("pearson is" in p and "its predictions score" in p for p in problems)


@pytest.mark.parametrize("where", ["metrics and per_slide", "metrics only"])
def test_validate_catches_clustering_scores_inflated_by_0_09(tmp_path, tmp_path_factory, where):
    def edit(doc):
        for key in ("ari", "nmi", "hungarian"):
            doc["metrics"][key] += 0.09
            if where == "metrics and per_slide":  # consistent with the mean: only the reclustering shows it
                for values in doc["per_slide"].values():
                    values[key] += 0.09

    problems = _validate_edited(copy_results(tmp_path, tmp_path_factory), edit)
    for key in ("ari", "nmi", "hungarian"):
        assert any(f" {key} is" in p and "its predictions score" in p for p in problems), problems
        if where == "metrics only":  # data-free: the pooled value is not the mean of the slides'
            assert any(f"{key} is" in p and "mean of its per-slide values" in p for p in problems), problems


def json_doc_slides(tmp_path: Path) -> list[str]:
    import json

    return json.loads((tmp_path / "results" / "demo" / "ext" / "fold0.json").read_text())["cohort"]["test_slides"]


@pytest.mark.parametrize("edit", ["per_slide list", "no n_test_spots"])
def test_validate_names_a_malformed_result_without_recomputing_it(tmp_path, tmp_path_factory, edit):
    def change(doc):
        if edit == "per_slide list":
            doc["per_slide"] = [1, 2]
        else:
            del doc["n_test_spots"]

    problems = _validate_edited(copy_results(tmp_path, tmp_path_factory), change)
    expected = "per_slide is not an object of objects" if edit == "per_slide list" else "lacks the field 'n_test_spots'"
    assert problems and all("fold0.json" in p for p in problems) and any(expected in p for p in problems), problems
