"""Builders of tiny cohorts in the HEST-1k and STImage-1K4M layouts, and a fake Hugging Face hub.

Everything here is written by the tests themselves; nothing touches the network.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp
from PIL import Image

PATCH = 224


# ---------------------------------------------------------------------------------------
# HEST layout


@dataclass
class SlideTruth:
    """What a fixture slide holds, for checking the prepared result against."""

    id: str
    barcodes: list[str]  # h5ad order
    genes: list[str]  # as stored in the h5ad
    counts: np.ndarray  # int64 (n_spots, n_genes), h5ad order
    centres: np.ndarray  # float64 (n_spots, 2) (x, y)
    patch_barcodes: list[str]  # patch-file order
    patches: np.ndarray  # uint8 (n_patches, 224, 224, 3), patch-file order

    def patch_of(self, barcode: str) -> np.ndarray:
        return self.patches[self.patch_barcodes.index(barcode)]


def write_h5ad(
    path: Path,
    barcodes: list[str],
    genes: list[str],
    x: np.ndarray,
    centres: np.ndarray | None = None,
    *,
    layers: dict[str, np.ndarray] | None = None,
    raw: tuple[list[str], np.ndarray] | None = None,
) -> None:
    """An h5ad with X csr float32 (or the given layers / raw counts); var names may repeat."""
    path.parent.mkdir(parents=True, exist_ok=True)
    adata = ad.AnnData(
        sp.csr_matrix(np.asarray(x, np.float32)),
        obs=pd.DataFrame(index=pd.Index(barcodes, dtype=str)),
        var=pd.DataFrame(index=pd.Index(genes, dtype=str)),
    )
    if centres is not None:
        adata.obsm["spatial"] = np.asarray(centres, np.float64)
    for name, values in (layers or {}).items():
        adata.layers[name] = sp.csr_matrix(np.asarray(values, np.float32))
    if raw is not None:
        raw_genes, raw_x = raw
        adata.raw = ad.AnnData(
            sp.csr_matrix(np.asarray(raw_x, np.float32)),
            obs=adata.obs,
            var=pd.DataFrame(index=pd.Index(raw_genes, dtype=str)),
        )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # non-unique var names are what some fixtures test
        adata.write_h5ad(path)


def write_patch_file(path: Path, barcodes: list[str], patches: np.ndarray, top_left: np.ndarray) -> None:
    """``patches/{id}.h5`` as HEST writes it: img, barcode (N, 1) bytes, coords (N, 2) top-left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("img", data=patches.astype(np.uint8))
        f.create_dataset("barcode", data=np.array([b.encode() for b in barcodes], dtype="S").reshape(-1, 1))
        f.create_dataset("coords", data=np.asarray(top_left, np.int64))


def random_patches(rng: np.random.Generator, n: int) -> np.ndarray:
    """uint8 (n, 224, 224, 3) patches, each distinct (coarse noise upsampled)."""
    coarse = rng.integers(0, 256, size=(n, 14, 14, 3), dtype=np.uint8)
    return np.repeat(np.repeat(coarse, 16, axis=1), 16, axis=2)


def make_counts(rng: np.random.Generator, n_spots: int, n_genes: int) -> np.ndarray:
    """int64 (n_spots, n_genes) Poisson counts with gene-specific rates (some genes rare)."""
    rates = rng.gamma(0.6, 3.0, size=n_genes)
    depth = rng.uniform(0.5, 2.0, size=(n_spots, 1))
    return rng.poisson(rates[None, :] * depth).astype(np.int64)


def make_hest_dir(
    directory: Path,
    *,
    n_slides: int = 3,
    n_spots: int = 30,
    n_genes: int = 150,
    seed: int = 0,
    metadata_name: str = "metadata.csv",
    prefix: str = "S",
) -> dict[str, SlideTruth]:
    """A HEST-layout cohort with the quirks real data has.

    * every slide has 40 genes of its own (``X{i}_{k}``), in the panel only if they are top genes;
    * slide 0 lacks GENE000, and its spot 5 has zero counts;
    * slide 1 stores title-case names ("Gene001") plus a duplicate " gene007" (case and
      whitespace differ), which must be summed into GENE007;
    * slide 2 (when there is one) has two spots without a patch and one patch without a spot;
    * every patch file lists its patches in a shuffled order (join by barcode, not row).
    """
    rng = np.random.default_rng(seed)
    base_genes = [f"GENE{j:03d}" for j in range(n_genes)]
    truths: dict[str, SlideTruth] = {}
    rows = []
    for i in range(n_slides):
        sid = f"{prefix}{i}"
        genes = base_genes + [f"X{i}_{k:02d}" for k in range(40)]
        counts = make_counts(rng, n_spots, len(genes))
        if i == 0:
            genes, counts = genes[1:], counts[:, 1:]
            counts[5] = 0
        if i == 1:
            genes = [g.title() for g in genes] + [" gene007"]
            counts = np.concatenate([counts, rng.poisson(2.0, size=(n_spots, 1))], axis=1)
        barcodes = [f"{sid}-{k:03d}-1" for k in range(n_spots)]
        grid = np.array([(k % 6, k // 6) for k in range(n_spots)], np.float64)
        centres = 300 + grid * 150 + np.array([[7.0, 3.0]])
        patch_barcodes = list(barcodes)
        patch_centres = centres.copy()
        if i == 2:
            patch_barcodes = barcodes[2:] + [f"{sid}-EXTRA-1"]
            patch_centres = np.concatenate([centres[2:], [[50.0, 50.0]]])
        order = rng.permutation(len(patch_barcodes))
        patch_barcodes = [patch_barcodes[k] for k in order]
        patch_centres = patch_centres[order]
        patches = random_patches(rng, len(patch_barcodes))
        write_h5ad(directory / "st" / f"{sid}.h5ad", barcodes, genes, counts, centres)
        write_patch_file(directory / "patches" / f"{sid}.h5", patch_barcodes, patches, patch_centres - 112)
        truths[sid] = SlideTruth(sid, barcodes, genes, counts, centres, patch_barcodes, patches)
        rows.append(
            {
                "id": sid,
                "st_technology": "Visium",
                "organ": "Breast",
                "patient": f"P{i // 2}",
                "species": "Homo sapiens",
            }
        )
    directory.mkdir(parents=True, exist_ok=True)
    # utf-8-sig: the real HEST table starts with a byte-order mark
    pd.DataFrame(rows).to_csv(directory / metadata_name, index=False, encoding="utf-8-sig")
    return truths


def expected_expression(truth: SlideTruth) -> tuple[list[str], list[str], np.ndarray]:
    """Direct computation: (kept barcodes, harmonised genes, log1p(count/total*1e4)) of a slide."""
    names = [g.strip().upper() for g in truth.genes]
    genes = sorted(set(names))
    merged = np.zeros((len(truth.barcodes), len(genes)))
    for j, name in enumerate(names):
        merged[:, genes.index(name)] += truth.counts[:, j]
    keep = [k for k, b in enumerate(truth.barcodes) if b in truth.patch_barcodes and merged[k].sum() > 0]
    kept = merged[keep]
    return [truth.barcodes[k] for k in keep], genes, np.log1p(kept / kept.sum(axis=1, keepdims=True) * 1e4)


# ---------------------------------------------------------------------------------------
# STImage layout


@dataclass
class StimageTruth:
    slide: str
    tech: str
    radius: float
    image: np.ndarray  # uint8 (H, W, 3) as written (before any lossy encoding)
    coords: pd.DataFrame  # index spot id; columns x, y
    genes: list[str]
    counts: pd.DataFrame  # spots x genes


SQUARE_SPOT = "SQUARE"
"""In every STImage fixture slide, the spot whose crop square is painted pure red."""
EDGE_SPOT = "EDGE"
"""In every STImage fixture slide, the spot whose crop square overhangs the image's left edge."""


def make_stimage_dir(directory: Path, *, seed: int = 0, n_genes: int = 120) -> dict[str, StimageTruth]:
    """An STImage-layout cohort of three slides:

    * ``ST_A`` (ST, r = 70 px): a JPEG saved as ``.png``;
    * ``VIS_B`` (Visium, r = 40 px): a TIFF;
    * ``ST_C`` (ST, r = 50 px): fails the 64 px radius QC.

    Each slide has a grid of spots, a spot whose square is painted red (:data:`SQUARE_SPOT`),
    a spot hanging over the left edge (:data:`EDGE_SPOT`), and one count row without coordinates.
    Images are wider than tall so a swap of x and y shows.
    """
    rng = np.random.default_rng(seed)
    specs = [
        ("ST_A", "ST", 70.0, "png", "JPEG"),
        ("VIS_B", "Visium", 40.0, "tif", "TIFF"),
        ("ST_C", "ST", 50.0, "png", "PNG"),
    ]
    truths = {}
    meta = []
    for slide, tech, r, ext, fmt in specs:
        step = 3 * r
        width, height = int(9 * step), int(6 * step)
        coarse = rng.integers(60, 200, size=(height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
        image = np.repeat(np.repeat(coarse, 8, axis=0), 8, axis=1)[:height, :width].copy()
        spots = {}
        for k in range(20):
            spots[f"{slide}_{k:02d}"] = (step * (1 + k % 7), step * (1 + k // 7))
        sq_x, sq_y = step * 8, step * 4 + 10
        spots[SQUARE_SPOT] = (sq_x, sq_y)
        image[int(sq_y - r) : int(sq_y + r), int(sq_x - r) : int(sq_x + r)] = (255, 0, 0)
        spots[EDGE_SPOT] = (r / 2, step * 2)
        coords = pd.DataFrame(spots, index=["x", "y"]).T
        genes = [f"G{j:03d}" for j in range(n_genes)]
        ids = list(coords.index) + [f"{slide}_NOCOORD"]
        counts = pd.DataFrame(make_counts(rng, len(ids), n_genes), index=ids, columns=genes)
        counts.iloc[:, 0] += 1  # no zero-count spot
        base = directory / tech
        for sub in ("image", "coord", "gene_exp"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        options = {"quality": 95} if fmt == "JPEG" else {}
        Image.fromarray(image).save(base / "image" / f"{slide}.{ext}", format=fmt, **options)
        # y before x, and an unnamed first column, as in STImage-1K4M
        pd.DataFrame({"yaxis": coords["y"], "xaxis": coords["x"], "r": r}, index=coords.index).to_csv(
            base / "coord" / f"{slide}_coord.csv"
        )
        counts.to_csv(base / "gene_exp" / f"{slide}_count.csv")
        truths[slide] = StimageTruth(slide, tech, r, image, coords, genes, counts)
        meta.append({"slide": slide, "species": "human", "tissue": "breast", "tech": tech, "spot_num": len(ids)})
    (directory / "meta").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(meta).to_csv(directory / "meta" / "meta_all_gene02122025.csv", index=False)
    return truths


# ---------------------------------------------------------------------------------------
# Splits


def write_split_file(folder: Path, cohort: str, slides: list[str]) -> Path:
    """A valid split file for ``cohort`` over ``slides`` (one patient per slide) in ``folder``:
    the generator's five folds from 5 slides on; below that (too few groups to generate), one fold
    per slide testing it alone, training on the others, with no validation."""
    from stbench.protocol.splits import N_FOLDS, build_split_document, content_sha256, write_split

    path = folder / f"{cohort}.json"
    groups = {s: s for s in slides}
    if len(slides) >= N_FOLDS:
        write_split(path, build_split_document(cohort, "test fixture", groups))
        return path
    doc = {"cohort": cohort, "rule": "test fixture", "seed": 0, "n_folds": len(slides), "slides": sorted(slides),
           "groups": groups, "folds": [{"train": sorted(set(slides) - {s}), "val": [], "test": [s]} for s in sorted(slides)]}
    write_split(path, doc | {"sha256": content_sha256(doc)})
    return path


# ---------------------------------------------------------------------------------------
# A fake Hugging Face hub


class FakeHub:
    """A local stand-in for the hub endpoints ``snapshot_download`` calls, on 127.0.0.1.

    Serves one dataset repo at one commit: ``GET /api/datasets/{repo}/revision/{rev}``,
    ``GET /api/datasets/{repo}/tree/{rev}`` and ``HEAD``/``GET
    /datasets/{repo}/resolve/{rev}/{path}``. ``status`` (e.g. 401) makes every request fail with
    it; ``error_code`` adds an ``X-Error-Code`` header. ``downloads`` lists the files served by GET.
    Use as a context manager: the server thread stops on exit.
    """

    def __init__(self, repo_id: str, files: dict[str, bytes], *, commit: str = "c0ffee" + "0" * 34) -> None:
        self.repo_id, self.files, self.commit = repo_id, files, commit
        self.status: int | None = None
        self.error_code: str | None = None
        self.downloads: list[str] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_HEAD(self) -> None:
                hub._answer(self, body=False)

            def do_GET(self) -> None:
                hub._answer(self, body=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _answer(self, req: BaseHTTPRequestHandler, body: bool) -> None:
        path = unquote(urlparse(req.path).path)
        if self.status is not None:
            headers = {"X-Error-Code": self.error_code} if self.error_code else {}
            return self._send(req, self.status, b'{"error": "refused"}', headers, body)
        api = f"/api/datasets/{self.repo_id}/"
        resolve = f"/datasets/{self.repo_id}/resolve/"
        if path.startswith(api + "revision/"):
            info = {
                "id": self.repo_id,
                "sha": self.commit,
                "private": False,
                "siblings": [{"rfilename": name} for name in sorted(self.files)],
            }
            return self._send(req, 200, json.dumps(info).encode(), {"Content-Type": "application/json"}, body)
        if path.startswith(api + "tree/"):
            tree = [
                {"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                for name, data in sorted(self.files.items())
            ]
            return self._send(req, 200, json.dumps(tree).encode(), {"Content-Type": "application/json"}, body)
        if path.startswith(resolve):
            name = path[len(resolve) :].split("/", 1)[1]
            if name not in self.files:
                return self._send(req, 404, b"not found", {"X-Error-Code": "EntryNotFound"}, body)
            data = self.files[name]
            if body:
                self.downloads.append(name)
            headers = {"ETag": f'"{hashlib.sha1(data).hexdigest()}"', "X-Repo-Commit": self.commit}
            return self._send(req, 200, data, headers, body)
        return self._send(req, 404, b"not found", {}, body)

    @staticmethod
    def _send(req: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict[str, str], body: bool) -> None:
        req.send_response(status)
        for key, value in headers.items():
            req.send_header(key, value)
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        if body:
            req.wfile.write(data)


def use_fake_hub(monkeypatch, hub: FakeHub, home: Path) -> None:
    """Point stbench's downloads at ``hub`` for one test: endpoint, a dummy token, online mode,
    an empty HF home, and no agent-registry look-up (huggingface_hub would send it to the real hub)."""
    from huggingface_hub import constants
    from huggingface_hub.utils import _detect_agent

    monkeypatch.setenv("STBENCH_HF_ENDPOINT", hub.endpoint)
    monkeypatch.setenv("HF_TOKEN", "hf_fake_token_for_tests")
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(_detect_agent, "_registry", {"standardEnvVars": [], "harnesses": {}})
