import json

import numpy as np
import pytest

from stbench.errors import StbenchError
from stbench.report import render_report
from stbench.results.document import SCHEMA_VERSION, read_result, result_path, write_json_atomic


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


# --- significance marks, reported values, outdated scores ----------------------------------------------------


def _write(root, cohort, model, fold, value, slides, oracle=False, metrics_version=None, split_sha256=None):
    doc = _doc(cohort, model, fold, {"pearson": value}, oracle=oracle)
    doc["cohort"].update(train_slides=[f"tr{i}" for i in range(7)], val_slides=["va"], test_slides=list(slides))
    if split_sha256 is not None:
        doc["cohort"]["split_sha256"] = split_sha256
    doc["per_slide"] = {s: {"n_spots": 10, "pearson": v} for s, v in slides.items()}
    if metrics_version is not None:
        doc["metrics_version"] = metrics_version
    write_json_atomic(result_path(root, cohort, model, fold), doc)


def test_not_significantly_worse_is_marked(tmp_path):
    rng = np.random.default_rng(0)
    for k in range(5):
        slides = {f"S{k}{j}": 0.0 for j in range(2)}
        best = {s: 0.80 + 0.01 * k + 0.01 * j for j, s in enumerate(slides)}
        close = {s: v + rng.normal(0, 0.01) for s, v in best.items()}   # noise around the best
        worse = {s: v - 0.2 for s, v in best.items()}                   # 0.2 below on every slide
        for model, vals in (("genst", best), ("stnet", close), ("bleep", worse)):
            _write(tmp_path, "demo", model, k, float(np.mean(list(vals.values()))), vals)
    text = render_report(tmp_path)
    row = _row(text, "pearson", "demo")
    header = [l for l in text.split("### `pearson`")[1].splitlines() if l.startswith("| cohort")][0]
    cells = dict(zip(header.strip("|").split("|")[1:], row.strip("|").split("|")[1:]))
    cells = {k.strip(): v.strip() for k, v in cells.items()}
    # genst and stnet differ by noise only: one is bold, the other marked; bleep is clearly worse
    assert sorted([cells["genst"].startswith("**"), cells["stnet"].startswith("**")]) == [False, True]
    other = cells["stnet"] if cells["genst"].startswith("**") else cells["genst"]
    assert other.endswith("≈") and not cells["bleep"].endswith("≈")
    assert "Nadeau-Bengio" in text and "alpha = 0.05" in text


def test_reported_values_beside_measured_never_bold(tmp_path):
    for k, v in enumerate([0.91, 0.92, 0.93, 0.92, 0.92]):
        _write(tmp_path, "hest-st-brain", "genst", k, v, {f"S{k}": v})
        _write(tmp_path, "hest-st-brain", "stnet", k, v - 0.05, {f"S{k}": v - 0.05})
    text = render_report(tmp_path)
    section = text.split("### `pearson`")[1].split("###")[0]
    lines = section.splitlines()
    i = lines.index(_row(text, "pearson", "hest-st-brain"))
    # columns: genst, stnet; Table 2 reports GenST 0.905 ± 0.00 and ST-Net 0.908 ± 0.01
    assert lines[i + 1] == "| ↳ reported (paper Table 2) | 0.905 ± 0.00 | 0.908 ± 0.01 |"
    assert lines[i + 2] == "| ↳ measured − reported | +0.015 | -0.038 |"
    assert "**" not in lines[i + 1] + lines[i + 2]
    assert "Table 3's brackets are **variances**" in text
    assert "| hest-visium-skin | ari | 0.159 (0.005) | 0.149 (0.006) | 0.140 (0.005) |" in text


def test_outdated_metrics_version_is_named_with_the_fix(tmp_path):
    from stbench.metrics import METRICS_VERSION
    from stbench.report.collect import load_board, stale_message

    from stbench.protocol.splits import load_split

    split = load_split("demo").sha256  # made on the current split: only the metrics version is old
    _write(tmp_path, "demo", "genst", 0, 0.5, {"S0": 0.5}, split_sha256=split)  # no metrics_version: older
    _write(tmp_path, "demo", "stnet", 0, 0.5, {"S0": 0.5}, metrics_version=METRICS_VERSION, split_sha256=split)
    message = stale_message(load_board(tmp_path))
    assert "demo/genst" in message and "demo/stnet" not in message
    assert f"stbench rescore --results {tmp_path}" in message
    assert "Outdated scores" in render_report(tmp_path)
    for k in range(1):
        _write(tmp_path, "demo", "genst", k, 0.5, {"S0": 0.5}, metrics_version=METRICS_VERSION, split_sha256=split)
    assert stale_message(load_board(tmp_path)) is None


def test_report_command_names_outdated_results_on_stderr(results, capsys):
    from stbench.cli import main

    assert main(["report", "--results", str(results)]) == 0
    captured = capsys.readouterr()
    assert "| demo |" in captured.out
    assert f"stbench rescore --results {results}" in captured.err
    assert main(["report", "--results", str(results / "nothing")]) == 2
    assert "No results found" in capsys.readouterr().err


def test_reference_clustering_seed_agreement_per_cohort(tmp_path):
    # Two models see the same test slides: each slide's agreement counts once per cohort.
    for model in ("genst", "stnet"):
        for k, (slide, agreement) in enumerate((("S0", 0.9), ("S1", 0.6))):
            doc = _doc("demo", model, k, {"pearson": 0.5, "ari": 0.3})
            doc["per_slide"] = {slide: {"n_spots": 10, "ari": 0.3, "reference_seed_ari": agreement}}
            write_json_atomic(result_path(tmp_path, "demo", model, k), doc)
    write_json_atomic(result_path(tmp_path, "hest-st-brain", "genst", 0), _doc("hest-st-brain", "genst", 0, {"ari": 0.2}))
    text = render_report(tmp_path)
    assert "| reference clustering seed agreement (mean pairwise ARI) | test slides |" in text
    assert "| demo | 0.750 | 2 |" in text
    assert "| hest-st-brain | — | — |" in text  # scored before the agreement was recorded
