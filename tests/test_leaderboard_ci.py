"""The leaderboard CI: the workflow only calls make targets, and those targets run here.

`make submissions-check` and `make site` run for real (a subprocess of make, with the variables
pointed at a temporary submissions folder, a small reference results folder and this
interpreter's `stbench`), so what the workflow does on GitHub is what is tested here.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.submit_helpers import mean_submission

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "leaderboard.yml"
TARGETS = {"install-core", "submissions-check", "site"}
ACTIONS = {"actions/checkout", "actions/setup-python", "actions/upload-pages-artifact", "actions/deploy-pages"}


def test_workflow_names_only_make_targets():
    doc = yaml.safe_load(WORKFLOW.read_text())
    triggers = doc.get("on", doc.get(True))  # YAML 1.1 reads the key `on` as true
    assert triggers["pull_request"]["paths"] == ["leaderboard/submissions/**"]
    assert triggers["push"]["branches"] == ["main"]
    called = set()
    for job in doc["jobs"].values():
        for step in job["steps"]:
            if "run" in step:
                match = re.fullmatch(r"make ([a-z-]+)", step["run"].strip())
                assert match, f"a step runs {step['run']!r}, not one make target"
                called.add(match.group(1))
            else:
                assert step["uses"].split("@")[0] in ACTIONS
    assert called == TARGETS
    makefile = (REPO / "Makefile").read_text()
    for target in TARGETS:
        assert re.search(rf"^{target}:", makefile, re.M), target
    site_job = doc["jobs"]["site"]
    assert site_job["permissions"]["pages"] == "write"
    assert [s["uses"].split("@")[0] for s in site_job["steps"][-2:]] == ["actions/upload-pages-artifact", "actions/deploy-pages"]
    assert site_job["steps"][-2]["with"]["path"] == "site"


def _make(target: str, **variables: str) -> subprocess.CompletedProcess:
    stbench = shutil.which("stbench", path=str(Path(sys.executable).parent)) or "stbench"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("GITHUB_STEP_SUMMARY", None)
    if "GITHUB_STEP_SUMMARY" in variables:
        env["GITHUB_STEP_SUMMARY"] = variables.pop("GITHUB_STEP_SUMMARY")
    args = [f"{k}={v}" for k, v in {"STBENCH": stbench, **variables}.items()]
    return subprocess.run(["make", "--no-print-directory", "-C", str(REPO), target, *args],
                          capture_output=True, text=True, env=env, timeout=900)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """(submissions folder holding the mean submission, leaderboard folder with one reference model)."""
    submission = mean_submission(tmp_path_factory)
    base = tmp_path_factory.mktemp("ci")
    submissions = base / "submissions"
    shutil.copytree(submission, submissions / submission.name)
    board = base / "leaderboard"
    for path in sorted((submission / "results" / "demo" / submission.name).glob("fold*.json")):
        target = board / "results" / "demo" / "reference" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        doc = json.loads(path.read_text())
        doc["model"]["name"] = "reference"
        doc.pop("predictions")
        target.write_text(json.dumps(doc))
    return submissions, board


@pytest.mark.slow
def test_make_submissions_check_passes_and_writes_the_summary(folders, tmp_path):
    submissions, board = folders
    summary = tmp_path / "summary.md"
    proc = _make("submissions-check", SUBMISSIONS=str(submissions), LEADERBOARD=str(board),
                 GITHUB_STEP_SUMMARY=str(summary))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok  " in proc.stdout
    assert "| demo | mean-ext | 5 |" in summary.read_text()


@pytest.mark.slow
def test_make_submissions_check_fails_on_a_bad_submission(folders, tmp_path):
    submissions, board = folders
    bad = tmp_path / "submissions"
    shutil.copytree(submissions, bad)
    card = bad / "mean-ext" / "card.toml"
    card.write_text(card.read_text().replace('paper = "https://', 'paper = "ftp://'))
    proc = _make("submissions-check", SUBMISSIONS=str(bad), LEADERBOARD=str(board), PREPARE="")
    assert proc.returncode != 0
    assert "paper 'ftp://doi.org/10.5281/zenodo.0000000' is not an http(s) URL." in proc.stdout


@pytest.mark.slow
def test_make_site_builds_the_page_with_the_submission(folders, tmp_path):
    submissions, board = folders
    proc = _make("site", SUBMISSIONS=str(submissions), LEADERBOARD=str(board), SITE=str(tmp_path / "site"), PREPARE="")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    page = (tmp_path / "site" / "index.html").read_text()
    assert 'data-model="mean-ext"' in page and 'id="card-mean-ext"' in page and 'data-model="reference"' in page
