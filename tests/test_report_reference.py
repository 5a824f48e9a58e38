"""The transcribed reference tables (``leaderboard/reference/``): one loader for every file, values in
range, and methods' own published values shown beside the measured ones."""

import shutil

import pytest

from stbench.errors import StbenchError
from stbench.report import render_report
from stbench.report.analysis import Artefacts, analyse
from stbench.report.html import render_html
from stbench.report.reference import METHODS_FILE, SOURCE, TABLES, load_reported, reference_dir
from stbench.results.document import SCHEMA_VERSION, result_path, write_json_atomic

CORRELATIONS = {"pearson", "pearson_gene", "ari"}
"""Metrics bounded by [-1, 1]; the clustering scores ``hungarian`` and ``nmi`` lie in [0, 1]."""


def _write(root, cohort, model, fold, value):
    doc = {"schema_version": SCHEMA_VERSION, "stbench_version": "0.1.0", "git_sha": "abc123",
           "model": {"name": model, "oracle": False, "profile": "small"}, "cohort": {"name": cohort},
           "fold": fold, "seed": 0, "metrics": {"pearson": value}}
    write_json_atomic(result_path(root, cohort, model, fold), doc)


def _methods_folder(tmp_path, rows):
    """A reference folder: the committed files plus a methods file of ``rows`` (made-up test values)."""
    ref = tmp_path / "ref"
    shutil.copytree(reference_dir(), ref)
    (ref / METHODS_FILE).write_text("cohort,model,metric,mean,std,source,table,setting\n" + "".join(r + "\n" for r in rows))
    return ref


def test_committed_reference_files_load_with_values_in_range():
    reported = load_reported()
    files = {spec.file for spec in TABLES if (reference_dir() / spec.file).is_file()}
    assert {"genst_table2_pearson.csv", "genst_table3_clustering.csv"} <= files
    with_header = sum(len((reference_dir() / f).read_text().strip().splitlines()) for f in files)
    assert len(reported) == with_header - len(files)  # one value per row, none dropped
    for (cohort, model, metric), r in reported.items():
        low = -1.0 if metric in CORRELATIONS else 0.0
        assert low <= r.mean <= 1.0, (cohort, model, metric)
        assert r.spread is None or r.spread >= 0.0
        assert cohort and model and r.table and r.source
        if r.source != SOURCE:  # the methods' own papers: Pearson on stbench's HEST-Bench cohorts
            assert metric in {"pearson", "pearson_gene"} and cohort.startswith("hest-bench-")


def test_methods_reported_values_beside_measured(tmp_path, monkeypatch):
    ref = _methods_folder(tmp_path, [
        "hest-bench-coad,stflow,pearson,0.321,0.012,Test et al. 2099,Table 9,UNI features",
        "hest-bench-coad,triplex,pearson,0.250,,Test et al. 2099,Table 9,",    # no std printed
        "hest-bench-coad,histogene,pearson,0.150,0.020,Other et al. 2098,Table 1,",
    ])
    monkeypatch.setenv("STBENCH_REFERENCE", str(ref))
    results = tmp_path / "results"
    for k, v in enumerate([0.30, 0.32]):
        _write(results, "hest-bench-coad", "stflow", k, v)
        _write(results, "hest-bench-coad", "triplex", k, v - 0.1)
    text = render_report(results)
    lines = text.split("### `pearson`")[1].split("###")[0].splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith("| hest-bench-coad "))
    # columns: stflow, triplex (histogene has no result, so its value is listed only below)
    assert lines[i + 1] == "| ↳ reported (Test et al. 2099, Table 9) | 0.321 ± 0.01 | 0.250 |"
    assert lines[i + 2] == "| ↳ measured − reported | -0.011 | -0.040 |"
    assert "**" not in lines[i + 1] + lines[i + 2]
    others = text.split("## Reported values from the methods' own papers")[1]
    assert "| hest-bench-coad | histogene | pearson | 0.150 ± 0.02 | Other et al. 2098, Table 1 |" in others
    # the GenST paper's section keeps only its own tables
    genst = text.split("## The paper's reported values")[1].split("## Reported values from")[0]
    assert "hest-bench-coad" not in genst and "| hest-visium-skin | ari |" in genst
    page = render_html(analyse(results), Artefacts(tmp_path / "web"), tmp_path / "web")
    assert 'title="Test et al. 2099, Table 9; bracket = std">0.321 ± 0.01 reported</td>' in page


@pytest.mark.parametrize("row, message", [
    ("hest-bench-coad,stflow,pearson,high,,S,T,", "'mean' holds 'high', not a number"),
    ("hest-bench-coad,stflow,pearson,0.3,nan,S,T,", "'std' holds 'nan', not a number"),
])
def test_bad_number_is_one_clear_error(tmp_path, row, message):
    with pytest.raises(StbenchError, match=message):
        load_reported(_methods_folder(tmp_path, [row]))


def test_one_value_per_cohort_model_metric(tmp_path):
    ref = _methods_folder(tmp_path, ["hest-st-brain,genst,pearson,0.9,,S,T,"])  # GenST Table 2 reports this cell
    with pytest.raises(StbenchError, match="reported twice"):
        load_reported(ref)


def test_missing_column_is_one_clear_error(tmp_path):
    ref = tmp_path / "ref"
    ref.mkdir()
    (ref / METHODS_FILE).write_text("cohort,model,mean,std\nhest-bench-read,stem,0.2,\n")
    with pytest.raises(StbenchError, match=r"lacks the column\(s\) metric, source, table"):
        load_reported(ref)
