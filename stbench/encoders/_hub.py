"""Published weights from the Hugging Face hub cache: where they are, which commit, one-sentence errors.

The cache is huggingface_hub's (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
``~/.cache/huggingface/hub``), read when called; its layout is
``models--ORG--NAME/{refs/<revision>, snapshots/<commit>/<file>}``. Downloads go through
``huggingface_hub.hf_hub_download`` (or transformers' ``from_pretrained``), which honour
``HF_HUB_OFFLINE=1`` (cache only) and ``HF_TOKEN`` / ``hf auth login`` (gated repositories).
Torch-free.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from stbench.errors import StbenchError

if TYPE_CHECKING:
    from stbench.encoders._config import EncoderConfig

_COMMIT = re.compile(r"[0-9a-f]{40}")


def hub_cache() -> Path:
    """The hub cache folder, from the environment at call time."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or Path("~/.cache/huggingface").expanduser()
    return Path(home).expanduser() / "hub"


def repo_folder(hub: str) -> Path:
    """``models--ORG--NAME`` in the hub cache."""
    return hub_cache() / f"models--{hub.replace('/', '--')}"


def resolved_revision(cfg: EncoderConfig) -> str:
    """The commit of ``cfg``'s weights: the pinned revision when it is a commit, else the commit its
    ``refs/<revision or main>`` points to in the local cache, else ``<revision> (not cached)``."""
    revision = cfg.revision or "main"
    if _COMMIT.fullmatch(revision):
        return revision
    ref = repo_folder(cfg.hub) / "refs" / revision
    try:
        commit = ref.read_text().strip()
    except OSError:
        return f"{revision} (not cached)"
    return commit if _COMMIT.fullmatch(commit) else f"{revision} (not cached)"


def is_cached(cfg: EncoderConfig) -> bool:
    """Whether the local cache holds ``cfg``'s weights at its revision (any of its weight files, or
    ``config.json`` plus a weights file for the transformers route)."""
    if cfg.hub is None:
        return False
    commit = resolved_revision(cfg)
    if not _COMMIT.fullmatch(commit):
        return False
    snapshot = repo_folder(cfg.hub) / "snapshots" / commit
    if cfg.route == "transformers":
        weights = any(snapshot.glob("*.safetensors")) or any(snapshot.glob("pytorch_model*.bin"))
        return (snapshot / "config.json").is_file() and weights
    return any((snapshot / f).is_file() for f in cfg.weights_files)


def download_weights(cfg: EncoderConfig) -> Path:
    """Path of ``cfg``'s weights file (the first of ``weights_files`` the repository has), from the
    local cache or downloaded into it.

    Raises:
        StbenchError: gated, offline and not cached, unreachable hub, or no such file.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RemoteEntryNotFoundError

    absent: Exception | None = None
    for filename in cfg.weights_files:
        try:
            return Path(hf_hub_download(cfg.hub, filename, revision=cfg.revision, cache_dir=hub_cache()))
        except RemoteEntryNotFoundError:
            continue  # the repository has no such file: try the next candidate
        except LocalEntryNotFoundError as exc:
            absent = exc  # not cached and not downloadable: another candidate may be cached
        except Exception as exc:
            raise weights_error(cfg, exc) from exc
    if absent is not None:
        raise weights_error(cfg, absent) from absent
    raise StbenchError(
        f"The hub repository {cfg.hub} has none of {', '.join(cfg.weights_files)} for encoder "
        f"{cfg.name!r}; the registry entry needs updating."
    )


def weights_error(cfg: EncoderConfig, exc: BaseException) -> StbenchError:
    """One sentence for a failed weights load of ``cfg``: gated, not cached offline, unreachable."""
    from huggingface_hub import constants
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    page = f"https://huggingface.co/{cfg.hub}"
    login = "then log in with `hf auth login` or set HF_TOKEN"
    if isinstance(exc, GatedRepoError) or (cfg.gated and isinstance(exc, RepositoryNotFoundError)):
        return StbenchError(
            f"The weights of encoder {cfg.name!r} ({cfg.hub}, {cfg.licence}) are gated: accept the terms on "
            f"{page}, {login}, with an account that was granted access."
        )
    if isinstance(exc, RepositoryNotFoundError):
        return StbenchError(f"The hub repository {cfg.hub} of encoder {cfg.name!r} does not exist or is private.")
    revision = cfg.revision or "main"
    terms = f"accept the terms on {page}, {login}, and " if cfg.gated else ""
    if constants.is_offline_mode():
        return StbenchError(
            f"HF_HUB_OFFLINE is set and the local hub cache ({hub_cache()}) lacks the weights of encoder "
            f"{cfg.name!r} ({_missing(cfg)} of {cfg.hub}@{revision}); {terms}download them once with the hub "
            f"reachable, or copy that folder from a machine that has them."
        )
    return StbenchError(
        f"The weights of encoder {cfg.name!r} ({cfg.hub}@{revision}) are not in the local hub cache "
        f"({hub_cache()}) and the hub could not be reached ({type(exc).__name__}); {terms}retry with the hub "
        f"reachable, or use a random stand-in such as --set encoder=\"uni-small-random\"."
    )


def _missing(cfg: EncoderConfig) -> str:
    """What is absent from the cache, as a phrase naming the folder and file(s)."""
    wanted = "config.json and model weights" if cfg.route == "transformers" else " or ".join(cfg.weights_files)
    commit = resolved_revision(cfg)
    if not _COMMIT.fullmatch(commit):
        return f"no {repo_folder(cfg.hub).name}/refs/{cfg.revision or 'main'}, so no snapshot with {wanted}"
    return f"no {wanted} in {repo_folder(cfg.hub).name}/snapshots/{commit}/"
