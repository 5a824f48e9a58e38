"""Build a registered encoder: its architecture (random or on torch's ``meta`` device) and its
published weights, loaded strictly from the hub cache.

Random weights are drawn from the entry's seed inside a forked RNG, one initialisation at a time
(threads share torch's RNG), so an entry always gives the same weights on a given
torch/timm/transformers version, and the feature cache keys on the seed and those versions.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from stbench.encoders._hub import download_weights, hub_cache, weights_error
from stbench.errors import StbenchError

if TYPE_CHECKING:
    import torch

    from stbench.encoders._config import EncoderConfig

_INIT_LOCK = threading.Lock()
"""Serialises random initialisation: threads share torch's global RNG."""

_LAYERS = {"SwiGLUPacked": ("timm.layers", "SwiGLUPacked"), "SiLU": ("torch.nn", "SiLU")}
"""Class names an entry's ``arch_kwargs`` may give as strings (entries stay plain data)."""


def build_encoder(cfg: EncoderConfig, pretrained: bool) -> torch.nn.Module:
    """``cfg``'s encoder in eval mode, (b, 3, s, s) -> (b, cfg.dim); see :meth:`EncoderConfig.build`."""
    import torch

    from stbench.encoders._modules import PooledEncoder

    if pretrained:
        backbone = _pretrained_backbone(cfg)
    else:
        with _INIT_LOCK, torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            backbone = _architecture(cfg)
    return PooledEncoder(backbone, _source(cfg), cfg.pooling, cfg.prefix_tokens).eval()


def _source(cfg: EncoderConfig) -> str:
    """What the backbone returns (see :class:`~stbench.encoders._modules.PooledEncoder`)."""
    if cfg.route == "transformers":
        return "hidden"
    if cfg.arch_kwargs.get("features_only"):
        return "feature_map"
    if cfg.route == "conch" or cfg.pooling != "cls+mean":
        return "pooled"
    return "tokens"


def _architecture(cfg: EncoderConfig) -> torch.nn.Module:
    """The network with freshly initialised weights (on torch's current default device)."""
    if cfg.route == "transformers":
        import transformers

        config_class = getattr(transformers, cfg.arch.replace("Model", "Config"))
        return getattr(transformers, cfg.arch)(config_class(**cfg.arch_kwargs))
    import timm

    trunk = timm.create_model(cfg.arch, pretrained=False, **_resolved(cfg.arch_kwargs))
    if cfg.route == "conch":
        from stbench.encoders._modules import ConchVisionTower

        return ConchVisionTower(trunk)
    return trunk


def _resolved(kwargs: Any) -> dict[str, Any]:
    """``arch_kwargs`` with layer names (``"SwiGLUPacked"``) replaced by the classes."""
    import importlib

    out = dict(kwargs)
    for key in ("mlp_layer", "act_layer"):
        if isinstance(out.get(key), str):
            module, name = _LAYERS[out[key]]
            out[key] = getattr(importlib.import_module(module), name)
    return out


def _pretrained_backbone(cfg: EncoderConfig) -> torch.nn.Module:
    if cfg.route == "transformers":
        return _from_transformers(cfg)
    path = download_weights(cfg)
    state = _read_state_dict(path)
    model = _architecture(cfg)
    missing, unexpected = model.load_state_dict(state, strict=False)
    unexpected = [k for k in unexpected if not k.startswith(cfg.ignore_keys)] if cfg.ignore_keys else unexpected
    if missing or unexpected:
        shown = ", ".join([*missing[:3], *unexpected[:3]])
        raise StbenchError(
            f"The weights file {path} does not fit encoder {cfg.name!r}'s architecture ({len(missing)} "
            f"missing and {len(unexpected)} unexpected keys, e.g. {shown}); the registry entry needs updating."
        )
    return model


def _read_state_dict(path: Any) -> dict[str, Any]:
    """A flat state dict from a ``.safetensors`` or ``.bin`` file (tensors only, on the CPU)."""
    import torch

    if str(path).endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state.get(key), dict):
            state = state[key]
    return state


def _from_transformers(cfg: EncoderConfig) -> torch.nn.Module:
    """``AutoModel.from_pretrained`` of the entry's hub repository, pinned revision, local cache."""
    from transformers import AutoModel

    try:
        return AutoModel.from_pretrained(
            cfg.hub, revision=cfg.revision, cache_dir=hub_cache(), trust_remote_code=cfg.trust_remote_code
        )
    except (OSError, ValueError) as exc:
        raise weights_error(cfg, _hub_cause(exc)) from exc


def _hub_cause(exc: BaseException) -> BaseException:
    """The huggingface_hub error transformers wrapped (gated, not found), else ``exc`` itself."""
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    seen = exc
    while seen is not None:
        if isinstance(seen, (HfHubHTTPError, LocalEntryNotFoundError)):
            return seen
        seen = seen.__cause__ or seen.__context__
    return exc
