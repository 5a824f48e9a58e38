"""Leaderboard submissions: the model card, `stbench submit`, `stbench validate --submission`.

A submission made from `mean` predictions through `score` and `submit` passes; tampered copies
(a card field missing, a result from another split, predictions of the wrong shape, a metric
edited by hand) each fail with a sentence naming the problem, all problems listed at once.
"""

import json
import shutil

import numpy as np
import pytest

from stbench.cli import main
from stbench.protocol.splits import load_split
from stbench.errors import StbenchError
from stbench.submit.card import MAX_CARD_BYTES, card_problems, read_card
from stbench.report.markdown import submission_rows
from stbench.submit.submission import assemble, validate_submission
from tests.submit_helpers import CARD, mean_submission


def _card(**changes):
    import tomllib

    card = tomllib.loads(CARD)
    for key, value in changes.items():
        if value is None:
            card.pop(key)
        else:
            card[key] = value
    return card


# --- the card (no data) ---------------------------------------------------------------


def test_the_example_card_passes():
    assert card_problems(_card()) == []


@pytest.mark.parametrize("changes, expected", [
    ({"license": None}, "lacks the field 'license'"),
    ({"compute": {"gpu": "A100"}}, "lacks the field 'compute.hours'"),
    ({"paper": "doi:10.1/x"}, "paper 'doi:10.1/x' is not an http(s) URL"),
    ({"code": "javascript:alert(1)"}, "is not an http(s) URL"),
    ({"contact": "nobody"}, "neither an e-mail address nor an http(s) URL"),
    ({"parameters": "1M"}, "parameters must be an integer >= 0"),
    ({"oracle": "no"}, "oracle must be true or false"),
    ({"authors": []}, "authors must be a list of 1 to"),
    ({"name": "x" * 600}, "name is longer than 500 characters"),
    ({"licence": "MIT"}, "unknown field 'licence'"),
])
def test_card_problems_are_one_sentence_each(changes, expected):
    problems = card_problems(_card(**changes))
    assert any(expected in p for p in problems), problems
    assert all(p.endswith(".") and "\n" not in p for p in problems)


def test_card_file_is_read_bounded_and_parsed_safely(tmp_path):
    big = tmp_path / "big.toml"
    big.write_text(CARD + "#" * MAX_CARD_BYTES)
    assert read_card(big)[0] is None and "larger than 16 KiB" in read_card(big)[1][0]
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [unclosed")
    assert "not valid TOML" in read_card(bad)[1][0]
    assert "there is no model card" in read_card(tmp_path / "absent.toml")[1][0]


# --- a submission made from mean predictions ------------------------------------------


@pytest.fixture(scope="module")
def submission(tmp_path_factory):
    return mean_submission(tmp_path_factory)


@pytest.mark.slow
def test_submit_copies_only_what_the_leaderboard_needs(submission):
    files = sorted(p.relative_to(submission).as_posix() for p in submission.rglob("*") if p.is_file())
    assert "card.toml" in files
    n_test = sum(len(fold.test) for fold in load_split("demo").folds)  # every slide tested once: 12
    assert sum(f.endswith(".json") for f in files) == 5 and sum(f.endswith(".npz") for f in files) == n_test
    assert not any(f.endswith("log.txt") for f in files)  # the run's log stays behind
    assert len(files) == 1 + 5 + n_test  # the card, five results, one .npz per tested slide


@pytest.mark.slow
def test_mean_submission_validates(submission, capsys):
    assert validate_submission(submission) == []
    assert main(["validate", "--submission", str(submission), "--against", str(submission.parent / "none")]) == 0
    assert f"ok  {submission}" in capsys.readouterr().out


@pytest.mark.slow
def test_submit_refuses_an_existing_folder_and_a_bad_card(submission, tmp_path):
    with pytest.raises(StbenchError, match="already exists"):
        assemble(submission / "results", submission / "card.toml", submission)
    (tmp_path / "card.toml").write_text("name = ")
    with pytest.raises(StbenchError, match="not valid TOML"):
        assemble(submission / "results", tmp_path / "card.toml", tmp_path / "out")


def _tampered(submission, tmp_path):
    copy = tmp_path / submission.name
    shutil.copytree(submission, copy)
    return copy


def _problems(folder, capsys) -> list[str]:
    assert main(["validate", "--submission", str(folder)]) == 1
    return capsys.readouterr().out.splitlines()


def _edit(path, change):
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=1))


@pytest.mark.slow
def test_card_missing_a_field_fails(submission, tmp_path, capsys):
    copy = _tampered(submission, tmp_path)
    card = copy / "card.toml"
    card.write_text("".join(line for line in card.read_text().splitlines(True) if not line.startswith("license")))
    assert _problems(copy, capsys) == [f"{card}: the model card lacks the field 'license' (licence of the code and weights)."]


@pytest.mark.slow
def test_result_from_another_split_fails(submission, tmp_path, capsys):
    copy = _tampered(submission, tmp_path)
    path = copy / "results" / "demo" / copy.name / "fold1.json"
    _edit(path, lambda d: d["cohort"].update(split_sha256="0" * 64))
    problems = _problems(copy, capsys)
    assert any(p.startswith(f"{path}: split_sha256 000000000000… is not the frozen split's") for p in problems), problems


@pytest.mark.slow
def test_predictions_of_the_wrong_shape_fail(submission, tmp_path, capsys):
    copy = _tampered(submission, tmp_path)
    path = copy / "results" / "demo" / copy.name / "fold2.json"
    folder = next(path.with_suffix("").glob("predictions-*"))
    npz = sorted(folder.glob("*.npz"))[0]
    with np.load(npz) as data:
        arrays = dict(data)
    np.savez(npz, X=arrays["X"][:, :-1], obs_names=arrays["obs_names"], var_names=arrays["var_names"][:-1])
    problems = _problems(copy, capsys)
    n_spots, n_genes = arrays["X"].shape
    assert f"{path}: the predictions of slide {npz.stem} have shape ({n_spots}, {n_genes - 1}), not ({n_spots} spots, " \
           f"{n_genes} genes)." in problems, problems


@pytest.mark.slow
def test_metric_edited_by_hand_fails(submission, tmp_path, capsys):
    copy = _tampered(submission, tmp_path)
    path = copy / "results" / "demo" / copy.name / "fold3.json"
    _edit(path, lambda d: d["metrics"].update(pearson=d["metrics"]["pearson"] + 0.05))
    problems = _problems(copy, capsys)
    assert len(problems) == 1 and problems[0].startswith(f"{path}: pearson is ") and "but its predictions score" in problems[0]


@pytest.mark.slow
def test_every_problem_is_listed_at_once(submission, tmp_path, capsys):
    copy = _tampered(submission, tmp_path)
    card = copy / "card.toml"
    card.write_text(card.read_text().replace("oracle = false", "oracle = true").replace('"MIT"', "42"))
    (copy / "notes.txt").write_text("x")
    _edit(copy / "results" / "demo" / copy.name / "fold4.json", lambda d: d["metrics"].update(l1=d["metrics"]["l1"] * 2))
    problems = _problems(copy, capsys)
    expected = ["not notes.txt", "license must be non-empty text", "but the card says oracle = true", "l1 is "]
    for text in expected:
        assert any(text in p for p in problems), (text, problems)
    assert sum("but the card says oracle = true" in p for p in problems) == 5


@pytest.mark.slow
def test_name_taken_and_summary(submission, tmp_path, capsys):
    taken = tmp_path / "results" / "demo" / submission.name
    taken.mkdir(parents=True)
    shutil.copy(submission / "results" / "demo" / submission.name / "fold0.json", taken / "fold0.json")
    summary = tmp_path / "summary.md"
    assert main(["validate", "--submission", str(submission), "--against", str(tmp_path / "results"),
                 "--summary", str(summary)]) == 1
    assert "is already on the leaderboard" in capsys.readouterr().out
    text = summary.read_text()
    assert "| demo | mean-ext | 5 |" in text and "Mean expression \\(exported training slides\\)" in text
    assert "**Problems**" in text
    assert submission_rows([submission]).count("| demo |") == 1
