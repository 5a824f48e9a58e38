"""The report finds a model's extra files from what its results list (``artefacts``), not from its name."""

from __future__ import annotations

from stbench.report.analysis import model_artefacts
from stbench.report.collect import load_board
from stbench.results.document import SCHEMA_VERSION, artefact_dir, result_path, write_json_atomic


def _doc(model: str, fold: int, artefacts: dict | None) -> dict:
    doc = {
        "schema_version": SCHEMA_VERSION, "stbench_version": "0.1.0", "git_sha": "abc123",
        "model": {"name": model, "oracle": False, "profile": "small"},
        "cohort": {"name": "demo"}, "fold": fold, "seed": 0, "metrics": {"pearson": 0.5},
    }
    if artefacts is not None:
        doc["artefacts"] = artefacts
    return doc


def test_extra_files_come_from_the_results_list(tmp_path):
    listed = {"reconstruction": "reconstructions/*.png", "atom table": "codebook_top_genes.csv"}
    for model, artefacts in (("my-model", listed), ("genst", None)):  # genst lists none here
        for fold in range(2):
            write_json_atomic(result_path(tmp_path, "demo", model, fold), _doc(model, fold, artefacts))
            folder = artefact_dir(tmp_path, "demo", model, fold)
            (folder / "reconstructions").mkdir(parents=True)
            (folder / "reconstructions" / f"S{fold}.png").write_bytes(b"png")
            (folder / "codebook_top_genes.csv").write_text("atom,genes\n")
    found = model_artefacts(load_board(tmp_path))
    labels = [(cohort, label, fold) for cohort, label, fold, _ in found]
    assert labels == [
        ("demo", "my-model reconstruction S0", 0), ("demo", "my-model atom table", 0),
        ("demo", "my-model reconstruction S1", 1), ("demo", "my-model atom table", 1),
    ]
    assert all(path.is_file() and "my-model" in path.parts for *_, path in found)
