"""The leaderboard's encoder view on synthetic result documents, and HEST-Benchmark's reported values."""

import csv

import numpy as np
import pytest

from stbench.report import render_report, write_report
from stbench.report.encoders import result_encoder
from stbench.report.reference import HEST_FILE, load_hest_reported, reference_dir
from stbench.results.document import SCHEMA_VERSION, model_entry, result_path, write_json_atomic


def _write(root, cohort, model, fold, slides, *, encoder=None, given=False, seed=0, oracle=False):
    """One result of ``model`` whose per-slide ``pearson_gene`` are ``slides``, where the layout
    puts it. ``encoder`` is the profile's (``model.config``), or with ``given`` a ``--set encoder``
    (``model.settings``: the result's folder is then ``<model>@<encoder>``)."""
    settings = {"encoder": encoder} if given else {}
    config = {"encoder": encoder} if encoder else {"n_epochs": 3}
    doc = {
        "schema_version": SCHEMA_VERSION, "stbench_version": "0.1.0", "git_sha": "abc123",
        "model": {"name": model, "oracle": oracle, "profile": "small", "settings": settings, "config": config},
        "cohort": {"name": cohort, "train_slides": [f"tr{i}" for i in range(7)], "val_slides": ["va"],
                   "test_slides": list(slides)},
        "fold": fold, "seed": seed, "metrics": {"pearson_gene": float(np.mean(list(slides.values())))},
        "per_slide": {s: {"n_spots": 10, "pearson_gene": v} for s, v in slides.items()},
    }
    write_json_atomic(result_path(root, cohort, model_entry(model, settings), fold, seed), doc)


def _section(text, cohort):
    return text.split("## Encoders (frozen-feature models)")[1].split(f"### {cohort}")[1].split("###")[0].split("##")[0]


def _cells(section):
    lines = [line for line in section.splitlines() if line.startswith("|") and not line.startswith("|---")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return {row[0]: dict(zip(header[1:], row[1:]))
            for row in ([c.strip() for c in line.strip("|").split("|")] for line in lines[1:])}


def test_result_encoder_reads_settings_then_config():
    assert result_encoder({"model": {"settings": {"encoder": "uni"}, "config": {"encoder": "resnet50"}}}) == "uni"
    assert result_encoder({"model": {"settings": {}, "config": {"encoder": "resnet50"}}}) == "resnet50"
    assert result_encoder({"model": {"settings": {}, "config": {"n_epochs": 3}}}) is None
    assert result_encoder({"model": {"config": {"encoder": ""}}}) is None


@pytest.fixture
def board(tmp_path):
    rng = np.random.default_rng(0)
    for k in range(5):
        best = {f"S{k}{j}": 0.60 + 0.01 * k + 0.01 * j for j in range(2)}
        close = {s: v + rng.normal(0, 0.01) for s, v in best.items()}
        worse = {s: v - 0.2 for s, v in best.items()}
        _write(tmp_path, "demo", "ridge", k, best, encoder="uni")
        _write(tmp_path, "demo", "ridge", k, worse, encoder="resnet50", given=True)
        _write(tmp_path, "demo", "uni-mlp", k, close, encoder="uni")
        _write(tmp_path, "demo", "mean", k, {s: 0.0 for s in best})               # records no encoder
        _write(tmp_path, "demo", "oracle", k, {s: 0.99 for s in best}, encoder="uni", oracle=True)
    return tmp_path


def test_encoders_are_rows_frozen_feature_models_columns_with_marks(board):
    cells = _cells(_section(render_report(board), "demo"))
    # the models come from the documents: mean records no encoder, the oracle is never a column
    assert set(cells) == {"resnet50", "uni"} and set(cells["uni"]) == {"ridge", "uni-mlp"}
    assert cells["resnet50"]["uni-mlp"] == "—"
    # ridge and uni-mlp on uni differ by noise only: one is the cohort's bold best, the other marked ≈
    pair = [cells["uni"]["ridge"], cells["uni"]["uni-mlp"]]
    assert sorted(c.startswith("**") for c in pair) == [False, True]
    assert next(c for c in pair if not c.startswith("**")).endswith("≈")
    assert not cells["resnet50"]["ridge"].endswith("≈") and "**" not in cells["resnet50"]["ridge"]
    assert cells["resnet50"]["ridge"].startswith("0.42")     # 0.2 below, its own encoder's folds only


def test_two_encoders_of_one_model_live_side_by_side_in_one_results_folder(board):
    # the profile's encoder keeps the plain folder; a --set encoder gets <model>@<encoder>
    assert (board / "demo" / "ridge" / "fold0.json").is_file()
    assert (board / "demo" / "ridge@resnet50" / "fold0.json").is_file()
    text = render_report(board)
    header = next(line for line in text.split("### `pearson_gene`")[1].splitlines() if line.startswith("| cohort"))
    assert "ridge@resnet50" in header     # a leaderboard column of its own, never averaged with ridge on uni


def test_encoder_view_averages_seeds_within_a_fold(tmp_path):
    for k in range(2):
        for seed, value in ((0, 0.50), (3, 0.60)):
            _write(tmp_path, "demo", "ridge", k, {f"S{k}": value + 0.1 * k}, encoder="uni", given=True, seed=seed)
    assert (tmp_path / "demo" / "ridge@uni" / "fold1-seed3.json").is_file()
    cells = _cells(_section(render_report(tmp_path), "demo"))
    # fold means 0.55 and 0.65 -> 0.600 ± 0.050; each fold's seeds differ by 0.1 -> seed spread 0.050
    assert cells["uni"]["ridge"] == "**0.600 ± 0.050 [s ± 0.050]** †2"


def test_encoder_view_in_html_and_heat_map(board, tmp_path):
    out = tmp_path / "board"
    write_report(board, out / "board.md", html=out)
    assert (out / "figures" / "encoders.png").stat().st_size > 0
    assert "![pearson_gene by encoder and model](figures/encoders.png)" in (out / "board.md").read_text()
    page = (out / "index.html").read_text()
    section = page.split('<section class="encoders"')[1].split("</section>")[0]
    assert '<tr data-encoder="uni">' in section and '<tr data-encoder="resnet50">' in section
    assert section.count('class="best"') == 1 and 'src="figures/encoders.png"' in section


def test_no_encoder_recorded_means_no_view(tmp_path):
    for k in range(2):
        _write(tmp_path, "demo", "mean", k, {f"S{k}": 0.1})
    assert "## Encoders" not in render_report(tmp_path)


def test_hest_reported_values_beside_ours(tmp_path, monkeypatch):
    ref = tmp_path / "ref"
    ref.mkdir()
    with (ref / HEST_FILE).open("w") as fh:
        fh.write("cohort,encoder,model,hest_name,mean,link\n"
                 "hest-bench-idc,uni,hest-probe,UNI,0.5890,x\nhest-bench-idc,virchow,hest-probe,Virchow,0.5846,x\n"
                 "hest-bench,uni,hest-probe,UNI,0.3873,x\n")
    monkeypatch.setenv("STBENCH_REFERENCE", str(ref))
    results = tmp_path / "results"
    for k in range(2):
        _write(results, "hest-bench-idc", "hest-probe", k, {f"S{k}": 0.55 + 0.01 * k}, encoder="uni")
    text = render_report(results)
    cells = _cells(_section(text, "hest-bench-idc"))
    # measured encoder first, then the encoders only HEST reports, with "—" where we have no result
    assert list(cells) == ["uni", "virchow"]
    assert cells["uni"] == {"hest-probe": "**0.555 ± 0.005** †2", "HEST reported": "0.5890"}
    assert cells["virchow"] == {"hest-probe": "—", "HEST reported": "0.5846"}
    full = text.split("## HEST-Benchmark's reported values")[1]
    assert "| encoder | hest-bench | hest-bench-idc |" in full and "| uni | 0.3873 | 0.5890 |" in full


def test_committed_hest_table_is_whole_and_its_averages_add_up():
    reported = load_hest_reported()
    tasks = ["idc", "prad", "paad", "skcm", "coad", "read", "ccrcc", "lung", "lymph-idc"]
    encoders = {e for _, e in reported}
    assert len(encoders) == 26 and len(reported) == 26 * 10
    for e in encoders:   # HEST prints four decimals: the average of the nine printed values agrees to rounding
        assert abs(np.mean([reported[(f"hest-bench-{t}", e)] for t in tasks]) - reported[("hest-bench", e)]) < 1e-4
    assert reported[("hest-bench", "h-optimus-1")] == 0.4229 and reported[("hest-bench", "resnet50-trunc")] == 0.3252
    with (reference_dir() / HEST_FILE).open() as fh:
        assert {row["model"] for row in csv.DictReader(fh)} == {"hest-probe"}
