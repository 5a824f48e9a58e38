"""Figures and drill-down CSVs from saved predictions joined with the prepared demo cohort."""

import csv

import numpy as np
import pytest

from stbench.data.prepare import prepare_and_load
from stbench.results.predictions import SlidePredictions, predictions_dir, write_slide_predictions
from stbench.report import write_report
from stbench.results.document import SCHEMA_VERSION, artefact_dir, result_path, write_json_atomic
from stbench.protocol.splits import load_split

pytestmark = pytest.mark.slow


def _cell(results, cohort, model, fold, pairs, clusters, oracle=False):
    part = load_split("demo").fold(fold)
    write_json_atomic(result_path(results, "demo", model, fold), {
        "schema_version": SCHEMA_VERSION, "stbench_version": "0.1.0", "git_sha": "abc", "metrics_version": 1,
        "model": {"name": model, "oracle": oracle, "profile": "small"},
        "cohort": {"name": "demo", "train_slides": list(part.train), "val_slides": list(part.val),
                   "test_slides": list(part.test)},
        "fold": fold, "seed": 0, "metrics": {"pearson": 0.5},
        "per_slide": {s.id: {"n_spots": s.n_spots, "pearson": 0.5} for s, _ in pairs},
    })
    folder = predictions_dir(artefact_dir(results, "demo", model, fold))
    for slide, pred in pairs:
        labels = (np.arange(slide.n_spots) % 3).astype(np.int32)
        write_slide_predictions(folder, SlidePredictions(
            slide.id, pred, slide.barcodes, np.array(cohort.genes),
            clusters_true=labels if clusters else None, clusters_pred=(labels + 1) % 3 if clusters else None))


@pytest.fixture(scope="module")
def demo():
    return prepare_and_load("demo")


def test_spatial_maps_and_per_gene_pearson(demo, tmp_path):
    rng = np.random.default_rng(0)
    results = tmp_path / "results"
    by_id = {s.id: s for s in demo.slides}
    expected = {}
    for fold in (0, 1):
        slides = [by_id[s] for s in load_split("demo").fold(fold).test]
        good = [(s, s.expression() + rng.normal(0, 0.3, (s.n_spots, len(demo.genes))).astype(np.float32))
                for s in slides]
        _cell(results, demo, "genst", fold, good, clusters=True)
        _cell(results, demo, "mean", fold, [(s, np.ones((s.n_spots, len(demo.genes)), np.float32)) for s in slides],
              clusters=True)
        expected.setdefault("truth", []).append(np.vstack([s.expression() for s, _ in good]))
        expected.setdefault("pred", []).append(np.vstack([p.astype(np.float16).astype(np.float64) for _, p in good]))
    text = write_report(results, tmp_path / "board" / "demo.md", root=None)
    figdir = tmp_path / "board" / "figures"
    for stem in ("spatial_demo_genes", "spatial_demo_clusters", "folds_pearson"):
        assert (figdir / f"{stem}.png").stat().st_size > 1000 and (figdir / f"{stem}.svg").is_file()
        assert f"figures/{stem}.png" in text
    # per-gene Pearson over each fold's pooled test spots, mean over the two folds, against numpy's corrcoef
    truth = np.vstack(expected["truth"])
    rows = list(csv.DictReader(open(tmp_path / "board" / "exports" / "per_gene_pearson.csv")))
    genst = {r["gene"]: r for r in rows if r["model"] == "genst"}
    for g in (0, 7, len(demo.genes) - 1):
        if truth[:, g].std() > 0:
            ref = np.mean([np.corrcoef(t[:, g], p[:, g])[0, 1] for t, p in zip(expected["truth"], expected["pred"])])
            assert float(genst[demo.genes[g]]["pearson"]) == pytest.approx(ref, abs=5e-6)  # CSV keeps 6 digits
            assert int(genst[demo.genes[g]]["n_spots"]) == truth.shape[0]
    # a constant prediction carries no information: 0 for every scored gene
    assert {float(r["pearson"]) for r in rows if r["model"] == "mean" and r["pearson"]} == {0.0}
    extremes = list(csv.DictReader(open(tmp_path / "board" / "exports" / "genes_best_worst.csv")))
    best = [float(r["pearson"]) for r in extremes if r["model"] == "genst" and r["end"] == "best"]
    assert best == sorted(best, reverse=True) and len(best) == 10
    per_slide = list(csv.DictReader(open(tmp_path / "board" / "exports" / "per_slide.csv")))
    assert len(per_slide) == 2 * sum(len(load_split("demo").fold(f).test) for f in (0, 1))


def test_absent_predictions_and_labels_are_skipped_with_a_note(demo, tmp_path):
    results = tmp_path / "results"
    slides = [s for s in demo.slides if s.id in load_split("demo").fold(0).test]
    _cell(results, demo, "genst", 0, [(s, s.expression()) for s in slides], clusters=False)
    _cell(results, demo, "stnet", 0, [], clusters=False)  # a cell without saved predictions
    notes: list[str] = []
    write_report(results, tmp_path / "board" / "demo.md", on_note=notes.append)
    assert (tmp_path / "board" / "figures" / "spatial_demo_genes.png").is_file()
    assert not (tmp_path / "board" / "figures" / "spatial_demo_clusters.png").exists()
    assert any("figure spatial_demo_clusters left out (the saved predictions hold no cluster labels)" in n
               for n in notes), notes
    only_results = tmp_path / "bare"
    _cell(only_results, demo, "stnet", 0, [], clusters=False)
    notes = []
    write_report(only_results, tmp_path / "bare-board" / "demo.md", on_note=notes.append)
    text = "\n".join(notes)
    assert "left out (no saved predictions with truth available)" in text and "per-gene Pearson not exported" in text
