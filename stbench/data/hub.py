"""Downloads of the named cohorts' raw data (paper, extended, HEST-Benchmark) from the Hugging Face hub.

Only the files a cohort needs are fetched (its frozen slides, from ``splits/<cohort>.json``):

* HEST-1k (``MahmoodLab/hest``, gated): the metadata table ``HEST_v1_*.csv`` and, per slide,
  ``st/{id}.h5ad``, ``patches/{id}.h5`` and ``metadata/{id}.json``; into ``<root>/raw/hest/``.
* STImage-1K4M (``jiawennnn/STimage-1K4M``): the slide table ``meta/meta_all_gene02122025.csv``
  and, per slide, ``{tech}/image/{slide}.*``, ``{tech}/coord/{slide}_coord.csv`` and
  ``{tech}/gene_exp/{slide}_count.csv``; into ``<root>/raw/stimage/``.

Downloads resume: ``huggingface_hub.snapshot_download`` keeps finished files and skips them when
run again. The revision asked for and the commit it resolved to are recorded per cohort in
``<root>/raw/<source>/.stbench-download.json``; preparation copies them into the manifest.
The hub address is ``$STBENCH_HF_ENDPOINT``, else ``$HF_ENDPOINT``, else huggingface.co.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from stbench.protocol.cohorts import CohortSpec, get_cohort
from stbench.data.hest import find_metadata
from stbench.data.stimage import find_image
from stbench.errors import StbenchError
from stbench.paths import data_root
from stbench.protocol.splits import load_split

REPOS = {"hest": "MahmoodLab/hest", "stimage": "jiawennnn/STimage-1K4M"}
"""Hub dataset of each raw-data source."""
DEFAULT_REVISIONS = {"hest": "50d244f17d799c2ea9218635c6f33d24801ffb13", "stimage": "main"}
"""THE PLACE TO PIN the hub revision each source is downloaded at (``--revision`` overrides it).

HEST-1k is pinned to commit ``50d244f1...``: a snapshot of ``MahmoodLab/hest`` that holds
``HEST_v1_1_0.csv``, the metadata table the frozen HEST splits were built from (the commit was
read from a public project's Hugging Face cache path; the build machines cannot reach the hub to
check it, so ``--revision main`` is the fallback if it is ever refused). STImage-1K4M stays on
``"main"`` until a commit sha can be checked: its coordinate files were corrected in 2026, so pin
it before publishing a leaderboard. Whatever is requested, the resolved commit is recorded with
the download and carried by the prepared cohort and every result.
"""
STIMAGE_META = "meta/meta_all_gene02122025.csv"
RECORD_NAME = ".stbench-download.json"
_COMMIT = re.compile(r"[0-9a-f]{40}")
_OFFLINE = "HF_HUB_OFFLINE is set, so nothing can be downloaded; unset it and run the command again."


def raw_dir(source: str, root: Path | None = None) -> Path:
    """Where a source's raw files live: ``<root>/raw/<source>``."""
    return data_root(root) / "raw" / source


def allow_patterns(spec: CohortSpec, slides: tuple[str, ...]) -> list[str]:
    """``snapshot_download`` patterns that select exactly the files of these slides."""
    if spec.source == "hest":
        patterns = ["HEST_v1_*.csv"]
        for sid in slides:
            patterns += [f"st/{sid}.h5ad", f"patches/{sid}.h5", f"metadata/{sid}.json"]
        return patterns
    patterns = [STIMAGE_META]
    for sid in slides:
        tech = spec.technology
        patterns += [f"{tech}/image/{sid}.*", f"{tech}/coord/{sid}_coord.csv", f"{tech}/gene_exp/{sid}_count.csv"]
    return patterns


def slide_files(spec: CohortSpec, raw: Path, slide: str) -> list[Path | None]:
    """The raw files preparation needs for one slide (``None`` for an STImage image not found)."""
    if spec.source == "hest":
        return [raw / "st" / f"{slide}.h5ad", raw / "patches" / f"{slide}.h5"]
    tech = spec.technology
    return [
        find_image(raw, tech, slide),
        raw / tech / "coord" / f"{slide}_coord.csv",
        raw / tech / "gene_exp" / f"{slide}_count.csv",
    ]


def slide_files_present(spec: CohortSpec, raw: Path, slide: str) -> bool:
    """Whether the files preparation needs for one slide are on disk."""
    return all(p is not None and p.is_file() for p in slide_files(spec, raw, slide))


def missing_slides(spec: CohortSpec, raw: Path, slides: tuple[str, ...]) -> list[str]:
    """The slides (and a ``"<metadata table>"`` entry for HEST) whose raw files are absent."""
    missing = [s for s in slides if not slide_files_present(spec, raw, s)]
    if spec.source == "hest" and find_metadata(raw) is None:
        missing.insert(0, "<metadata table>")
    return missing


def read_record(raw: Path) -> dict:
    """The download record of a raw directory (``{}`` when there is none)."""
    try:
        return json.loads((raw / RECORD_NAME).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def recorded_revision(raw: Path, cohort: str) -> str | None:
    """The commit (else the revision) a cohort was downloaded at, if it was downloaded by stbench."""
    entry = read_record(raw).get("cohorts", {}).get(cohort, {})
    return entry.get("commit") or entry.get("revision")


def hub_endpoint() -> str | None:
    """``$STBENCH_HF_ENDPOINT``, else ``$HF_ENDPOINT``, else ``None`` (huggingface_hub's default)."""
    return os.environ.get("STBENCH_HF_ENDPOINT") or os.environ.get("HF_ENDPOINT") or None


def _offline() -> bool:
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().upper()
    return constants.is_offline_mode() or flag in {"1", "ON", "YES", "TRUE"}


def download_cohort(name: str, root: Path | None = None, *, revision: str | None = None) -> Path:
    """Download the raw files of a named cohort (paper, extended or HEST-Benchmark's, whose slides
    are HEST-1k samples) into ``<root>/raw/<source>``.

    Args:
        name: a named cohort (see :data:`stbench.protocol.cohorts.COHORTS`).
        root: data root (default :func:`stbench.paths.data_root`).
        revision: hub branch, tag or commit; default :data:`DEFAULT_REVISIONS` of the source.

    Raises:
        StbenchError: demo or unknown cohort, offline mode, missing token for the gated HEST-1k,
            access refused, unknown revision, hub unreachable, or files still missing after the
            download.
    """
    from huggingface_hub import HfApi, get_token, snapshot_download

    spec = get_cohort(name)
    if spec.source == "demo":
        raise StbenchError(
            "The demo cohort is generated locally and needs no download; run `stbench data prepare --cohort demo`."
        )
    slides = load_split(name).slides
    repo = REPOS[spec.source]
    rev = revision or DEFAULT_REVISIONS[spec.source]
    endpoint = hub_endpoint()
    if _offline():
        raise StbenchError(_OFFLINE)
    if spec.source == "hest" and get_token() is None:
        raise StbenchError(
            f"HEST-1k is gated: accept its terms at https://huggingface.co/datasets/{repo}, then set HF_TOKEN "
            "or run `hf auth login`, and run the command again."
        )
    local = raw_dir(spec.source, root)
    local.mkdir(parents=True, exist_ok=True)
    with _hub_errors(repo, rev, endpoint):
        commit = rev if _COMMIT.fullmatch(rev) else HfApi(endpoint=endpoint).dataset_info(repo, revision=rev).sha
        snapshot_download(
            repo_id=repo,
            repo_type="dataset",
            revision=commit,
            allow_patterns=allow_patterns(spec, slides),
            local_dir=local,
            endpoint=endpoint,
        )
    missing = missing_slides(spec, local, slides)
    if missing:
        raise StbenchError(
            f"The download of cohort {name} is incomplete ({len(missing)} of {len(slides)} slides lack files, "
            f"e.g. {missing[0]}); run `stbench data download --cohort {name}` again."
        )
    _write_record(local, repo, name, rev, commit)
    return local


def _write_record(local: Path, repo: str, cohort: str, revision: str, commit: str) -> None:
    record = read_record(local)
    record["repo_id"] = repo
    record.setdefault("cohorts", {})[cohort] = {
        "revision": revision,
        "commit": commit,
        "downloaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    tmp = local / (RECORD_NAME + ".tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    tmp.replace(local / RECORD_NAME)


@contextmanager
def _hub_errors(repo: str, revision: str, endpoint: str | None) -> Iterator[None]:
    """Turn huggingface_hub and network failures into one-sentence :class:`StbenchError`."""
    try:
        yield
    except StbenchError:
        raise
    except Exception as exc:
        message = _explain(exc, repo, revision, endpoint or "https://huggingface.co")
        if message is None:
            raise
        raise StbenchError(message) from exc


def _explain(exc: Exception, repo: str, revision: str, endpoint: str) -> str | None:
    import httpx2
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, RevisionNotFoundError):
        return (
            f"Revision {revision!r} does not exist in {repo}; pass an existing commit, tag or branch with --revision."
        )
    if isinstance(exc, (GatedRepoError, RepositoryNotFoundError)) or (
        isinstance(exc, HfHubHTTPError) and status in (401, 403)
    ):
        return (
            f"The hub refused access to {repo} (HTTP {status}): accept the dataset's terms at "
            f"https://huggingface.co/datasets/{repo} with the account of your token (HF_TOKEN or "
            "`hf auth login`), then run the command again."
        )
    if isinstance(exc, OfflineModeIsEnabled):
        return _OFFLINE
    if isinstance(exc, (LocalEntryNotFoundError, httpx2.TransportError, ConnectionError, TimeoutError)):
        return (
            f"Cannot reach the Hugging Face hub at {endpoint} ({type(exc).__name__}); check the network "
            "and run the command again (finished files are kept)."
        )
    if isinstance(exc, HfHubHTTPError):
        return f"The hub answered HTTP {status} while downloading {repo}; run the command again later."
    return None
