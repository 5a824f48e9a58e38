import json

import pytest

from stbench.errors import StbenchError
from stbench.report import render_report
from stbench.results import SCHEMA_VERSION, read_result, result_path, write_json_atomic


def _doc(cohort, model, fold, metrics, oracle=False, profile="small"):
    return {
        "schema_version": SCHEMA_VERSION, "stbench_version": "0.1.0", "git_sha": "abc123",
        "model": {"name": model, "oracle": oracle, "profile": profile},
        "cohort": {"name": cohort}, "fold": fold, "seed": 0, "metrics": metrics,
    }


@pytest.fixture
def results(tmp_path):
    values = {"mean": [0.10, 0.20, 0.30, 0.40, 0.50], "genst": [0.5, 0.6, 0.7, 0.8, 0.9], "gene2gene": [0.99] * 5}
    for model, vals in values.items():
        for k, v in enumerate(vals):
            write_json_atomic(
                result_path(tmp_path, "demo", model, k),
                _doc("demo", model, k, {"pearson": v, "l1": 1 - v, "ari": v / 2}, oracle=model == "gene2gene"),
            )
    for k in range(2):  # a cohort with only two folds of one model
        write_json_atomic(result_path(tmp_path, "hest-st-brain", "genst", k), _doc("hest-st-brain", "genst", k, {"pearson": 0.4}))
    return tmp_path


def _row(text, metric, cohort):
    section = text.split(f"### `{metric}`")[1].split("###")[0]
    return next(line for line in section.splitlines() if line.startswith(f"| {cohort} "))


def test_mean_std_bold_and_flags(results):
    text = render_report(results)
    row = _row(text, "pearson", "demo")
    # columns: mean first (calibration floor), then the others, oracles last
    assert row == "| demo | 0.300 ± 0.141 | **0.700 ± 0.141** | 0.990 ± 0.000 |"
    header = [l for l in text.split("### `pearson`")[1].splitlines() if l.startswith("| cohort")][0]
    assert header == "| cohort | mean | genst | *gene2gene* (oracle) |"
    # lower is better for l1: genst (0.3) is bold, the oracle never is
    assert "**0.300 ± 0.141**" in _row(text, "l1", "demo")
    assert _row(text, "pearson", "hest-st-brain") == "| hest-st-brain | — | **0.400 ± 0.000** †2 | — |"
    assert "## Clustering" in text and "### `ari`" in text
    assert "population standard deviation" in text


def test_empty_results_is_one_clear_error(tmp_path):
    with pytest.raises(StbenchError, match="No results found"):
        render_report(tmp_path)


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "a" / "fold0.json"

    def crash(doc, fh, **kw):
        fh.write('{"half": ')
        raise KeyboardInterrupt

    monkeypatch.setattr(json, "dump", crash)
    with pytest.raises(KeyboardInterrupt):
        write_json_atomic(path, {"x": 1})
    assert not path.exists() and list(path.parent.iterdir()) == []
    monkeypatch.undo()
    write_json_atomic(path, {"schema_version": SCHEMA_VERSION, "metrics": {}})
    assert read_result(path) == {"schema_version": SCHEMA_VERSION, "metrics": {}}
    path.write_text("{half")
    assert read_result(path) is None
