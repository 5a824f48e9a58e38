"""Significance on valid pairings: seeds averaged within a fold, one value per test slide, and the
corrected t-test with the folds' own train/test sizes (issue 21, items 2 and 6)."""

import math

import numpy as np
import pytest

from stbench.report.collect import load_board, paired_slide_values
from stbench.report.significance import compare, fold_test, slide_test
from stbench.report.stats import corrected_ttest, wilcoxon_slides
from stbench.results.document import SCHEMA_VERSION, result_path, write_json_atomic


def _write(root, model, fold, slides, *, seed=0, train=7, val=1, cohort="demo"):
    """A result whose per-slide ``pearson`` are ``slides`` (its metric: their mean)."""
    doc = {
        "schema_version": SCHEMA_VERSION, "stbench_version": "0.1.0", "git_sha": "abc123",
        "model": {"name": model, "oracle": False, "profile": "small", "settings": {}},
        "cohort": {"name": cohort, "train_slides": [f"tr{i}" for i in range(train)],
                   "val_slides": [f"va{i}" for i in range(val)], "test_slides": list(slides)},
        "fold": fold, "seed": seed, "metrics": {"pearson": float(np.mean(list(slides.values())))},
        "per_slide": {s: {"n_spots": 10, "pearson": v} for s, v in slides.items()},
    }
    write_json_atomic(result_path(root, cohort, model, fold, seed), doc)


SLIDES = [f"S{i}" for i in range(8)]


def test_a_slide_tested_in_two_folds_is_paired_on_the_folds_both_models_have(tmp_path):
    # Overlapping test sets: every slide is tested in fold 0 and in fold 1. "genst" has both folds;
    # "stnet" only fold 0, where it is 0.1 below genst on every slide. The old code kept each
    # model's last fold per slide and paired genst's fold 1 (where genst is poor) with stnet's
    # fold 0, so stnet looked better on every slide; the valid pairing is fold 0 with fold 0.
    _write(tmp_path, "genst", 0, {s: 0.8 + 0.01 * i for i, s in enumerate(SLIDES)})
    _write(tmp_path, "genst", 1, {s: 0.2 for s in SLIDES})
    _write(tmp_path, "stnet", 0, {s: 0.7 + 0.01 * i for i, s in enumerate(SLIDES)})
    board = load_board(tmp_path)
    slides, values = paired_slide_values([board.slide_values("demo", m, "pearson") for m in ("stnet", "genst")])
    assert slides == SLIDES and values.shape == (8, 2)
    assert np.allclose(values[:, 1] - values[:, 0], 0.1)        # fold 0 against fold 0
    res = slide_test(board, "demo", "stnet", "genst", "pearson")
    assert res.n == 8 and res.p < 0.01                          # stnet is worse on every slide
    # the old pairing (each model's last fold per slide) finds stnet better on every slide
    genst, stnet = (board.slide_values("demo", m, "pearson") for m in ("genst", "stnet"))
    last = {s: v for (s, _), v in sorted(genst.items(), key=lambda kv: kv[0][1])}
    assert wilcoxon_slides(np.array([stnet[(s, 0)] - last[s] for s in SLIDES])).p > 0.99


def test_a_slide_tested_in_two_folds_counts_once_with_its_mean(tmp_path):
    for model, shift in (("genst", 0.0), ("stnet", -0.05)):
        _write(tmp_path, model, 0, {s: 0.6 + shift for s in SLIDES[:5]})
        _write(tmp_path, model, 1, {s: 0.8 + shift for s in SLIDES[3:]})   # S3 and S4 tested twice
    board = load_board(tmp_path)
    slides, values = paired_slide_values([board.slide_values("demo", m, "pearson") for m in ("genst", "stnet")])
    assert slides == SLIDES                                       # 8 slides, not 10 test slots
    assert values[SLIDES.index("S3"), 0] == pytest.approx(0.7)    # mean of its two folds
    assert slide_test(board, "demo", "stnet", "genst", "pearson").n == 8


def test_seeds_are_averaged_within_a_fold_before_any_test(tmp_path):
    for k in range(3):
        for seed, noise in ((0, -0.02), (1, 0.02)):
            _write(tmp_path, "genst", k, {s: 0.8 + noise + 0.01 * k for s in SLIDES[2 * k:2 * k + 2]}, seed=seed)
        _write(tmp_path, "stnet", k, {s: 0.7 + 0.01 * k for s in SLIDES[2 * k:2 * k + 2]})
    board = load_board(tmp_path)
    assert (tmp_path / "demo" / "genst" / "fold2-seed1.json").is_file()
    assert board.fold_values("demo", "genst", "pearson") == pytest.approx({0: 0.80, 1: 0.81, 2: 0.82})
    stats = board.stats("demo", "genst", "pearson")
    assert (stats.n, stats.seeds) == (3, 2)
    assert stats.seed_std == pytest.approx(0.02) and stats.mean == pytest.approx(0.81)
    assert board.stats("demo", "stnet", "pearson").seed_std is None   # one seed: no seed spread
    assert board.slide_values("demo", "genst", "pearson")[("S0", 0)] == pytest.approx(0.80)
    comp = compare(board, "demo", "pearson")["stnet"]
    assert comp.ttest.n == 3 and comp.wilcoxon.n == 6               # folds and slides, not runs


def test_corrected_ttest_uses_the_folds_own_train_and_test_sizes(tmp_path):
    # fold 0: 2 test / (6 + 2) training slides = 0.25; fold 1: 3 / 5 = 0.6; fold 2: 1 / 9
    sizes = {0: (2, 6, 2), 1: (3, 4, 1), 2: (1, 8, 1)}
    diffs = {0: -0.05, 1: -0.02, 2: -0.04}
    for k, (n_test, train, val) in sizes.items():
        slides = SLIDES[:n_test]
        _write(tmp_path, "genst", k, {s: 0.8 for s in slides}, train=train, val=val)
        _write(tmp_path, "stnet", k, {s: 0.8 + diffs[k] for s in slides}, train=train, val=val)
    board = load_board(tmp_path)
    assert board.fold_sizes("demo") == {0: (2, 8), 1: (3, 5), 2: (1, 9)}
    ratio = np.mean([2 / 8, 3 / 5, 1 / 9])
    expected = corrected_ttest(np.array([diffs[k] for k in range(3)]), ratio)
    got = fold_test(board, "demo", "stnet", "genst", "pearson")
    assert got.statistic == pytest.approx(expected.statistic) and got.p == pytest.approx(expected.p)
    assert got.statistic != pytest.approx(corrected_ttest(np.array(list(diffs.values())), 0.25).statistic)


def test_no_recorded_sizes_means_no_corrected_ttest(tmp_path):
    for k in range(3):
        _write(tmp_path, "genst", k, {"S0": 0.8}, train=0, val=0)
        _write(tmp_path, "stnet", k, {"S0": 0.7 + 0.01 * k}, train=0, val=0)
    res = fold_test(load_board(tmp_path), "demo", "stnet", "genst", "pearson")
    assert math.isnan(res.p) and "not recorded" in res.note


def test_a_second_result_of_one_fold_and_seed_is_left_out(tmp_path):
    _write(tmp_path, "genst", 0, {"S0": 0.8})
    copy = tmp_path / "demo" / "genst" / "fold0-seed9.json"   # misplaced: its document says seed 0
    copy.write_text((tmp_path / "demo" / "genst" / "fold0.json").read_text())
    board = load_board(tmp_path)
    assert len(board.results("demo", "genst")) == 1
    assert any("fold0-seed9.json: a second result" in line for line in board.left_out)
