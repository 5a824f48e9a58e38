"""``stbench export``: one fold of a cohort in standard formats, for methods outside stbench.

``export_fold(cohort, fold, out)`` writes::

    out/fold.json              cohort, fold, train/val/test slide ids, panel and split sha256
    out/README.md              this format, in words
    out/genes.txt              the panel, one gene per line, in panel order
    out/train/<slide>.h5ad     X = float32 log1p expression (spots x panel genes, panel order);
    out/val/<slide>.h5ad         obs_names = spot barcodes; var_names = panel genes;
                                 layers["counts"] = raw counts on the panel (float32, CSR);
                                 obsm["spatial"] = spot centres (x, y), full-resolution pixels
    out/test/<slide>.h5ad      the same spots and genes without expression (X is an all-zero
                                 sparse matrix, no counts layer)
    out/patches/<slide>.h5     HEST-1k patch format, one row per spot in the h5ad's order:
                                 img uint8 (n, 224, 224, 3); barcode bytes (n, 1);
                                 coords int64 (n, 2) patch top-left corner (x, y), full-res px

Raw counts come from the cohort's HEST-layout files (the files the prepared cohort was built
from), read by the same reader and put on the panel (a panel gene absent from a slide is 0), so
``log1p(counts / counts.sum(1) * 1e4)`` on the slide's full gene set gives ``X``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from stbench.data.folds import FoldData, load_fold
from stbench.data.hest_layout import write_counts_h5ad, write_patch_file
from stbench.data.prepared import PreparedCohort
from stbench.data.spots import Slide
from stbench.errors import StbenchError

FORMAT_VERSION = 1
_PATCH_BLOCK = 256  # patches copied at a time (256 x 147 KB = 38 MB)


def export_fold(cohort: str, fold: int, out: Path, *, root: Path | None = None, results_dir: Path = Path("results"), split_seed: int = 0) -> Path:
    """Write fold ``fold`` of ``cohort`` to ``out`` (see the module docstring); returns ``out``."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise StbenchError(f"{out} exists and is not empty; give a new folder to --out.")
    data = load_fold(cohort, fold, root=root, results_dir=results_dir, split_seed=split_seed)
    by_id = {s.id: s for s in data.cohort.slides}
    counts = _CountsReader(data.cohort)
    for part, ids in (("train", data.train), ("val", data.val), ("test", data.test)):
        (out / part).mkdir(parents=True, exist_ok=True)
        for slide_id in ids:
            slide = by_id[slide_id]
            _write_h5ad(out / part / f"{slide_id}.h5ad", slide, data.cohort.genes, counts, with_expression=part != "test")
    (out / "patches").mkdir(parents=True, exist_ok=True)
    for slide_id in (*data.train, *data.val, *data.test):
        _write_patches(out / "patches" / f"{slide_id}.h5", by_id[slide_id], counts.patch_corners(slide_id))
    (out / "genes.txt").write_text("".join(f"{g}\n" for g in data.cohort.genes))
    (out / "fold.json").write_text(json.dumps(fold_document(data), indent=1) + "\n")
    (out / "README.md").write_text(README.format(cohort=data.cohort.name, fold=fold, n_genes=len(data.cohort.genes)))
    return out


def fold_document(data: FoldData) -> dict:
    """The content of ``fold.json``."""
    return {
        "format_version": FORMAT_VERSION,
        "cohort": data.cohort.name,
        "fold": data.fold,
        "train_slides": data.train,
        "val_slides": data.val,
        "test_slides": data.test,
        "n_genes": len(data.cohort.genes),
        "panel_sha256": data.cohort.panel_sha256,
        "split_sha256": data.split.sha256,
        "split_file": data.split_file,
        "revision": data.cohort.revision,
        "normalisation": data.cohort.manifest.get("normalisation"),
        "score_command": f"stbench score --cohort {data.cohort.name} --fold {data.fold} --predictions DIR --name MODEL",
    }


class _CountsReader:
    """Raw counts and patch corners of the slides of a prepared cohort, from its HEST-layout files."""

    def __init__(self, cohort: PreparedCohort):
        from stbench.data import hest

        self.cohort = cohort
        self.position = {g: i for i, g in enumerate(cohort.genes)}
        hest_dir = cohort.path / cohort.manifest["hest_dir"]
        ids = tuple(s.id for s in cohort.slides)
        try:
            self.sources = {s.id: s for s in hest.read_slide_table(hest_dir, ids)}
        except (OSError, StbenchError) as exc:
            raise StbenchError(
                f"The source files of cohort {cohort.name} ({hest_dir}) cannot be read for raw counts ({exc})."
            ) from exc
        self._joined: dict[str, object] = {}

    def _read(self, slide: Slide):
        from stbench.data import hest

        if slide.id not in self._joined:
            self._joined = {slide.id: hest.read_slide(self.sources[slide.id])}  # one slide in memory at a time
        joined = self._joined[slide.id]
        if not np.array_equal(np.asarray(joined.barcodes, dtype=str), np.asarray(slide.barcodes, dtype=str)):
            raise StbenchError(
                f"The source files of slide {slide.id} changed since the cohort was prepared; "
                f"run `stbench data prepare --cohort {self.cohort.name} --force`."
            )
        return joined

    def counts(self, slide: Slide) -> sp.csr_matrix:
        """Raw counts of ``slide`` on the panel: float32 CSR (n_spots x panel genes)."""
        joined = self._read(slide)
        cols = np.array([j for j, g in enumerate(joined.genes) if g in self.position], dtype=np.int64)
        targets = np.array([self.position[joined.genes[j]] for j in cols], dtype=np.int64)
        on_panel = joined.counts[:, cols].tocoo()
        matrix = sp.csr_matrix(
            (on_panel.data, (on_panel.row, targets[on_panel.col])), shape=(slide.n_spots, len(self.position)),
            dtype=np.float32,
        )
        matrix.sort_indices()
        return matrix

    def patch_corners(self, slide_id: str) -> np.ndarray:
        """Top-left corners of the slide's patches in spot order: int64 (n_spots, 2), full-res px."""
        from stbench.data import hest

        source = self.sources[slide_id]
        index = hest.read_patch_index(source.patches, slide_id)
        slide = next(s for s in self.cohort.slides if s.id == slide_id)
        with np.load(self.cohort.path / "spots" / f"{slide_id}.npz") as spots:
            rows = spots["patch_rows"]
        if len(rows) != slide.n_spots:
            raise StbenchError(f"The spot table of slide {slide_id} does not match its slide; prepare it again with --force.")
        return np.rint(index.top_left[rows]).astype(np.int64)


def _write_h5ad(path: Path, slide: Slide, genes: tuple[str, ...], counts: _CountsReader, *, with_expression: bool) -> None:
    if with_expression:
        matrix = np.asarray(slide.expression(), dtype=np.float32)
        layers = {"counts": counts.counts(slide)}
    else:
        matrix, layers = sp.csr_matrix((slide.n_spots, len(genes)), dtype=np.float32), {}
    uns = {"stbench": {"slide": slide.id, "technology": slide.technology, "organ": slide.organ,
                       "patient": slide.patient or "", "expression": "log1p(count / spot_total * 1e4)"
                       if with_expression else "hidden (test slide)"}}
    write_counts_h5ad(path, matrix, slide.barcodes, genes, np.asarray(slide.coords, dtype=np.float32),
                      obs_name="barcode", var_name="gene", layers=layers, uns=uns)


def _write_patches(path: Path, slide: Slide, corners: np.ndarray) -> None:
    blocks = (slide.patches(np.arange(start, min(slide.n_spots, start + _PATCH_BLOCK)))
              for start in range(0, slide.n_spots, _PATCH_BLOCK))
    write_patch_file(path, slide.barcodes, corners, blocks, coords_attrs={"corner": "top-left (x, y)", "level": 0}, gzip=1)


README = """# stbench fold export: {cohort}, fold {fold}

Everything an external method needs to train on this fold and predict its test slides.

- `fold.json`: cohort, fold, the slide ids of train / val / test, `panel_sha256` (sha256 of the
  panel genes joined by newlines) and `split_sha256` (of the frozen split file).
- `genes.txt`: the {n_genes} panel genes, in panel order.
- `train/<slide>.h5ad`, `val/<slide>.h5ad` (AnnData): `X` float32 spots x genes, log1p of
  counts normalised to 10,000 per spot; `obs_names` spot barcodes; `var_names` the panel genes
  in panel order; `layers["counts"]` raw counts on the panel; `obsm["spatial"]` spot centres
  (x, y) in full-resolution pixels.
- `test/<slide>.h5ad`: the same spots and genes, expression hidden (`X` all zero).
- `patches/<slide>.h5` (HEST-1k patch format, rows in the h5ad's spot order): `img` uint8
  (n, 224, 224, 3) RGB; `barcode` (n, 1) bytes; `coords` (n, 2) int64, patch top-left (x, y)
  in full-resolution pixels.

Predictions: one file per test slide in a folder, `<slide>.h5ad` (X = log1p predictions,
obs_names = barcodes, var_names = panel genes, any order) or `<slide>.npz` with arrays `X`,
`obs_names`, `var_names`. Score them with

    stbench score --cohort {cohort} --fold {fold} --predictions DIR --name MODEL [--oracle]

(`--oracle` when the method read test expression).
"""
