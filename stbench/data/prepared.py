"""Reading a prepared cohort: ``<root>/prepared/<name>/`` (written by :mod:`stbench.data.prepare`,
whose docstring describes the folder) as file-backed slides on one gene panel. Nothing here
prepares: a cohort that is not prepared is a :class:`CohortNotPreparedError` naming the command.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from stbench.data import hest
from stbench.data.panel import panel_sha256
from stbench.data.spots import Slide, SpotData
from stbench.errors import CohortNotPreparedError, StbenchError
from stbench.paths import data_root, prepared_dir
from stbench.protocol.cohorts import COHORTS, get_cohort

SCHEMA_VERSION = 1
"""Version of the prepared-folder format; bump it whenever preprocessing changes its output."""


@dataclass(frozen=True)
class PreparedCohort:
    """A prepared cohort, loaded: file-backed slides on one gene panel.

    Attributes:
        name: cohort name, or ``"local-<12 hex>"`` for a directory.
        path: the prepared folder.
        source: ``"demo"``, ``"hest"``, ``"stimage"`` or ``"local"``.
        revision: hub commit (else revision) the raw data came from; ``None`` for local/demo.
        genes: the panel, sorted.
        panel_sha256: sha256 of ``"\\n".join(genes)``.
        slides: slides with lazy patches (h5py) and lazy expression (memory-mapped npy).
        dropped_slides: slide id -> why preparation dropped it (e.g. pixel-radius QC).
        manifest: the parsed ``manifest.json``.
    """

    name: str
    path: Path
    source: str
    revision: str | None
    genes: tuple[str, ...]
    panel_sha256: str
    slides: tuple[Slide, ...]
    dropped_slides: dict[str, str]
    manifest: dict = field(repr=False)

    def spotdata(self, ids: Sequence[str] | None = None) -> SpotData:
        """The slides with these ids (all when ``None``), in the order given, as :class:`SpotData`."""
        if ids is None:
            return SpotData(self.genes, self.slides)
        have = {s.id for s in self.slides}
        unknown = [i for i in ids if i not in have]
        if unknown:
            raise StbenchError(f"Prepared cohort {self.name} has no slide {unknown[0]!r}.")
        return SpotData(self.genes, self.slides).subset(list(ids))

    def raw_counts(self, slide_id: str) -> tuple[sp.csr_matrix, np.ndarray]:
        """A slide's raw counts: int32 csr (n_spots, n_genes) on the panel, rows as in its
        expression, and int64 (n_spots,) each spot's total count off the panel.

        Raises:
            StbenchError: the folder was prepared before raw counts were kept.
        """
        path = self.path / "counts" / f"{slide_id}.npz"
        if not path.is_file():
            raise StbenchError(
                f"Prepared cohort {self.name} keeps no raw counts; run `stbench data prepare --cohort "
                f"{self.name if self.source != 'local' else self.manifest['source_dir']} --force`."
            )
        with np.load(path) as f:
            panel = sp.csr_matrix((f["data"], f["indices"], f["indptr"]), shape=tuple(f["shape"]))
            return panel, f["other"]

    def slide_metadata(self) -> dict[str, dict]:
        """Slide id -> {technology, organ, patient, species}."""
        return {
            s.id: {"technology": s.technology, "organ": s.organ, "patient": s.patient, "species": s.species}
            for s in self.slides
        }


def local_name(directory: Path) -> str:
    """Prepared name of a directory cohort: ``local-`` + 12 hex of sha1(absolute path)."""
    return "local-" + hashlib.sha1(str(directory.resolve()).encode()).hexdigest()[:12]


def prepared_name(cohort: str) -> str:
    """The prepared name of ``cohort`` (a cohort name, or the ``local-...`` name of a directory),
    found without reading or writing any data.

    Raises:
        StbenchError: neither a known cohort nor an existing directory.
    """
    if cohort in COHORTS:
        return cohort
    path = Path(cohort).expanduser()
    if path.is_dir():
        return local_name(path)
    if not path.exists() and ("/" in cohort or "\\" in cohort or cohort.startswith((".", "~"))):
        raise StbenchError(f"Directory {cohort} does not exist.")
    get_cohort(cohort)  # raises the 'unknown cohort, did you mean' error
    raise StbenchError(f"{cohort} is a file; give a cohort name or a directory in the HEST-1k or STImage layout.")


def load_cohort(cohort: str, root: Path | None = None) -> PreparedCohort:
    """Load the prepared ``cohort`` (a name or a directory); never prepares it.

    Raises:
        CohortNotPreparedError: the cohort is not prepared under the data root; the message
            names the ``stbench data prepare`` command that prepares it.
    """
    path = prepared_dir(prepared_name(cohort), root)
    if not (path / "manifest.json").is_file():
        where = f" --root {root}" if root is not None else ""
        raise CohortNotPreparedError(
            f"Cohort {cohort} is not prepared under {data_root(root)}; run "
            f"`stbench data prepare --cohort {cohort}{where}` first."
        )
    return load_prepared(path)


def load_prepared(path: Path) -> PreparedCohort:
    """Load a prepared folder written by :func:`prepare_cohort`.

    Raises:
        StbenchError: no manifest (not prepared, or preparation did not finish), an older
            format, or files it refers to that are gone.
    """
    path = Path(path)
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except FileNotFoundError as exc:
        raise StbenchError(
            f"{path} is not a prepared cohort (it has no manifest.json); run `stbench data prepare`."
        ) from exc
    except json.JSONDecodeError as exc:
        raise StbenchError(f"The manifest of {path} is damaged; prepare the cohort again with --force.") from exc
    name = manifest.get("cohort", path.name)
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise StbenchError(
            f"Prepared cohort {name} has an older format; run `stbench data prepare --cohort {name} --force`."
        )
    genes = tuple((path / "genes.txt").read_text().splitlines())
    if panel_sha256(genes) != manifest["panel_sha256"]:
        raise StbenchError(
            f"The panel of prepared cohort {name} does not match its manifest; prepare it again with --force."
        )
    hest_dir = path / manifest["hest_dir"]
    slides = tuple(_file_slide(path, hest_dir, entry, name) for entry in manifest["slides"])
    return PreparedCohort(
        name=name,
        path=path,
        source=manifest["source"],
        revision=manifest["revision"],
        genes=genes,
        panel_sha256=manifest["panel_sha256"],
        slides=slides,
        dropped_slides=dict(manifest["dropped_slides"]),
        manifest=manifest,
    )


def _file_slide(path: Path, hest_dir: Path, entry: dict, cohort: str) -> Slide:
    sid = entry["id"]
    expr_path = path / "expr" / f"{sid}.npy"
    patch_path = hest_dir / "patches" / f"{sid}.h5"
    for file in (expr_path, path / "spots" / f"{sid}.npz", patch_path):
        if not file.is_file():
            raise StbenchError(
                f"Prepared cohort {cohort} needs {file}, which is gone; "
                "run `stbench data prepare` for it again with --force."
            )
    with np.load(path / "spots" / f"{sid}.npz") as spots:
        barcodes, coords, patch_rows = spots["barcodes"], spots["coords"], spots["patch_rows"]
    return Slide(
        id=sid,
        technology=entry["technology"],
        organ=entry["organ"],
        patient=entry["patient"],
        species=entry["species"],
        barcodes=barcodes,
        coords=coords,
        patch_key=entry["patch_key"],
        _patches=partial(_read_patches, patch_path, patch_rows),
        _expression=partial(np.load, expr_path, mmap_mode="r"),
    )


def _read_patches(patch_path: Path, patch_rows: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Patches of spot rows ``rows``: uint8 (len(rows), 224, 224, 3), via the slide's patch rows."""
    return hest.read_patch_rows(patch_path, patch_rows[rows])
