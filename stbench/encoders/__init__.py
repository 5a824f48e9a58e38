"""The encoder registry: frozen image encoders that the feature-based models share.

Public API (importing it needs no torch; building an encoder needs the ``torch`` extra)::

    from stbench.encoders import list_encoders, encoder_info, create_encoder

    list_encoders()                     # ['conch-v1.5', 'h-optimus-0', ..., 'virchow2']
    cfg = encoder_info("uni2-h")        # EncoderConfig: hub, architecture, input, pooling, dim, ...
    net = create_encoder("uni2-h", pretrained=True)   # (b, 3, 224, 224) normalised -> (b, 1536)

Each entry (:class:`EncoderConfig`) is data, as timm's pretrained configs are; the facts and their
sources are in :mod:`stbench.encoders._entries` and docs/encoders.md. Models pick an encoder with
the ``encoder`` setting (``stbench run --set encoder=NAME``); their features are cached on disk
(:mod:`stbench.torchkit.features`) under a key holding the entry's :meth:`EncoderConfig.cache_id`
(architecture, preprocessing and weights identity: hub repository @ commit, or seed + versions).
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from stbench.encoders._config import EncoderConfig
from stbench.encoders._entries import ENTRIES
from stbench.errors import StbenchError

if TYPE_CHECKING:
    import torch

__all__ = ["EncoderConfig", "create_encoder", "encoder_info", "list_encoders"]

_REGISTRY: dict[str, EncoderConfig] = {cfg.name: cfg for cfg in ENTRIES}


def list_encoders() -> list[str]:
    """Names of the registered encoders, sorted."""
    return sorted(_REGISTRY)


def encoder_info(name: str) -> EncoderConfig:
    """The registered encoder called ``name``.

    Raises:
        StbenchError: no such encoder (one sentence, with the closest names).
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name.lower(), list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else "see `stbench encoders`."
        raise StbenchError(f"Unknown encoder {name!r}; {hint}") from None


def create_encoder(name: str, pretrained: bool | None = None) -> torch.nn.Module:
    """The encoder ``name`` in eval mode: float (b, 3, s, s), s = its ``input_size``, normalised
    with its ``mean``/``std`` -> float (b, dim).

    Args:
        name: a registered name (:func:`list_encoders`).
        pretrained: load the published weights (from the local hub cache, or downloaded into it);
            ``False`` draws random weights from the entry's seed; ``None`` (default) follows the
            entry (published weights, except for the random stand-ins).

    Raises:
        StbenchError: unknown name; or gated, missing (``HF_HUB_OFFLINE=1``) or unreachable weights.
    """
    return encoder_info(name).build(pretrained)
