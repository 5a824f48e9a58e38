"""The result document has one owner: the typed class, its JSON Schema and its field reference agree,
and every committed result validates against the schema."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import pytest

from stbench.results.document import ResultDocument, ResultDocumentError, build_document, result_paths
from stbench.results.schema import SCHEMA_FILE, json_schema, markdown, schema_text

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = result_paths(ROOT / "leaderboard" / "results")


def _validator():
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_shipped_schema_is_the_one_the_class_generates():
    assert SCHEMA_FILE.read_text() == schema_text()
    assert json.loads(schema_text()) == json_schema()


def test_the_docs_page_is_the_one_the_class_generates():
    assert (ROOT / "docs" / "results-schema.md").read_text() == markdown()


def test_the_module_prints_the_schema():
    out = subprocess.run([sys.executable, "-m", "stbench.results.schema"], capture_output=True, text=True, check=True)
    assert out.stdout == SCHEMA_FILE.read_text()


def test_there_are_committed_results():
    assert len(COMMITTED) >= 40


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: "/".join(p.parts[-3:]))
def test_every_committed_result_validates_and_round_trips(path):
    doc = json.loads(path.read_text())
    errors = sorted(_validator().iter_errors(doc), key=str)
    assert not errors, f"{path}: {errors[0].message}"
    typed = ResultDocument.load(path)
    assert json.dumps(typed.to_dict()) == json.dumps(doc)  # same fields, same order, NaN kept


def test_schema_and_class_reject_the_same_broken_documents():
    doc = json.loads(COMMITTED[0].read_text())
    validator = _validator()
    missing = {k: v for k, v in doc.items() if k != "metrics"}
    assert not validator.is_valid(missing)
    with pytest.raises(ResultDocumentError, match="lacks the field 'metrics'"):
        ResultDocument.from_dict(missing)
    unknown = {**doc, "score": 1.0}
    assert not validator.is_valid(unknown)
    with pytest.raises(ResultDocumentError, match="'score'"):
        ResultDocument.from_dict(unknown)
    nested = copy.deepcopy(doc)
    del nested["model"]["oracle"]
    assert not validator.is_valid(nested)
    assert ResultDocument.problems(nested) == ["lacks the field model.oracle."]
    wrong_type = {**doc, "fold": "zero"}
    assert not validator.is_valid(wrong_type)


def test_built_documents_validate_and_save_and_load(tmp_path):
    committed = json.loads(COMMITTED[0].read_text())
    scores = SimpleNamespace(metrics=committed["metrics"], excluded=committed["excluded"],
                             per_slide=committed["per_slide"], n_test_spots=committed["n_test_spots"])
    model = {k: v for k, v in committed["model"].items() if k != "settings"}  # as `stbench score` builds it
    doc = build_document(model=model, cohort=committed["cohort"], fold=1, seed=3, scores=scores,
                         predictions=None, training=None, timings={"fit": None, "metrics": 0.5}, device="cpu")
    assert _validator().is_valid(doc)
    assert "settings" not in doc["model"]
    typed = ResultDocument.from_dict(doc)
    typed.save(tmp_path / "demo" / "mean" / "fold1.json")
    assert ResultDocument.load(tmp_path / "demo" / "mean" / "fold1.json") == typed
