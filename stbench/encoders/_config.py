"""The registry's record of one frozen encoder (:class:`EncoderConfig`); torch-free.

One entry is data, as timm's pretrained configs are: where the weights live and how they load,
the exact architecture, what the network expects (input side, micrometres per pixel, RGB
normalisation) and what it returns (which tokens are pooled, the output dimension), with the
published parameter count, licence, gating and citation. The network itself is built by
:meth:`EncoderConfig.build` (torch, timm and, for one route, transformers imported there).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

ROUTES = ("timm", "transformers", "conch")
"""How published weights load: ``timm`` (a timm architecture from ``arch`` + ``arch_kwargs``, the
hub's weights file loaded strictly into it: what ``timm.create_model("hf-hub:...")`` does),
``transformers`` (``AutoModel.from_pretrained``; without weights the architecture is built from
``arch`` + ``arch_kwargs``, a transformers config), ``conch`` (CONCH v1.5's vision tower: a timm
ViT trunk plus its attentional pooler, :mod:`stbench.encoders._modules`)."""

POOLINGS = ("cls", "cls+mean", "mean", "avgpool", "attnpool")
"""What the encoder returns: ``cls`` the class token after the final norm; ``cls+mean`` the class
token concatenated with the mean of the patch tokens (register tokens dropped: the first
``prefix_tokens`` tokens are the class and register tokens); ``mean`` the mean of the patch
tokens; ``avgpool`` global average pool of a CNN feature map; ``attnpool`` CONCH's attentional
pooler (one learned query over all tokens) and LayerNorm."""


@dataclass(frozen=True)
class EncoderConfig:
    """One registered frozen encoder.

    Attributes:
        name: registry name (``--set encoder=NAME``; first part of the feature-cache folder).
        title: the authors' name of the model (``UNI2-h``).
        route: one of :data:`ROUTES`.
        arch: timm model name (``timm``/``conch`` routes) or transformers model class name
            (``transformers`` route, e.g. ``Dinov2Model``) of the architecture.
        arch_kwargs: the exact architecture arguments (timm ``create_model`` keywords, or the
            transformers config fields).
        input_size: side of the square RGB input in pixels.
        dim: length of the output feature vector.
        pooling: one of :data:`POOLINGS`.
        prefix_tokens: tokens before the patch tokens in the token sequence (class + registers);
            0 for CNNs.
        params: the published parameter count as its source writes it (``"632M"``, ``"1.1B"``);
            see ``params_source``.
        params_source: where ``params`` comes from; ``derived: ...`` when no source states one
            and the figure is this registry's own count of the architecture.
        mean: per-channel RGB mean in [0, 1] subtracted before the network.
        std: per-channel RGB standard deviation in [0, 1] divided out before the network.
        um_per_px: micrometres per pixel of the training tiles (``None``: not pinned down, or
            not a pathology encoder).
        hub: Hugging Face hub repository of the weights (``None``: random weights only).
        revision: pinned hub revision (commit); ``None`` uses ``main``, and the feature cache
            keys on the commit ``main`` resolves to in the local cache.
        weights_files: candidate weight files in the hub repository, the first present is used
            (``timm`` and ``conch`` routes).
        ignore_keys: checkpoint key prefixes that the built network does not use (a classifier
            head, a truncated stage); any other unused or missing key is an error.
        trust_remote_code: the hub repository ships its own modelling code (``transformers``).
        licence: the weights' licence.
        gated: downloading needs accepting the terms on the hub page and a token.
        citation: how to cite the model.
        sources: where each fact comes from (model card, authors' code, commit read).
        notes: disagreements between sources and which one is followed, and why.
        pretrained: load published weights by default (``False``: random weights from ``seed``).
        seed: torch seed of random weights.
    """

    name: str
    title: str
    route: str
    arch: str
    input_size: int
    dim: int
    pooling: str
    params: str
    params_source: str
    arch_kwargs: Mapping[str, Any] = field(default_factory=dict)
    prefix_tokens: int = 1
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    um_per_px: float | None = None
    hub: str | None = None
    revision: str | None = None
    weights_files: tuple[str, ...] = ("model.safetensors", "pytorch_model.bin")
    ignore_keys: tuple[str, ...] = ()
    trust_remote_code: bool = False
    licence: str = ""
    gated: bool = False
    citation: str = ""
    sources: tuple[str, ...] = ()
    notes: str = ""
    pretrained: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.route not in ROUTES or self.pooling not in POOLINGS:
            raise ValueError(f"{self.name}: route {self.route!r} / pooling {self.pooling!r} unknown.")
        if self.pretrained and self.hub is None:
            raise ValueError(f"{self.name}: pretrained weights need a hub repository.")

    @property
    def params_count(self) -> int:
        """``params`` as a number of parameters (``"1.1B"`` -> 1_100_000_000)."""
        return parse_count(self.params)[0]

    def weights_id(self, pretrained: bool | None = None) -> str:
        """Identity of the weights: ``<hub>@<commit>`` (the pinned revision, else the commit the
        local hub cache resolves ``main`` to, else ``main (not cached)``), or the seed plus the
        torch/timm/transformers versions for random weights."""
        from stbench.encoders._hub import resolved_revision

        if self.pretrained if pretrained is None else pretrained:
            return f"{self.hub}@{resolved_revision(self)}"
        versions = "-".join(f"{p}{_version(p)}" for p in ("torch", "timm", "transformers") if self._uses(p))
        return f"random-seed-{self.seed}-{versions}"

    def cache_id(self) -> str:
        """Everything the features depend on, as one string (hashed into the feature-cache key)."""
        kwargs = ",".join(f"{k}={self.arch_kwargs[k]!r}" for k in sorted(self.arch_kwargs))
        return (
            f"{self.name}|{self.route}|{self.arch}|{kwargs}|{self.input_size}|{self.dim}|{self.pooling}|"
            f"{self.prefix_tokens}|{self.mean}|{self.std}|{self.weights_id()}"
        )

    def build(self, pretrained: bool | None = None) -> torch.nn.Module:
        """The encoder in eval mode: float (b, 3, input_size, input_size), normalised with
        ``mean``/``std`` -> float (b, dim).

        Args:
            pretrained: load the published weights (default: the entry's ``pretrained``), else
                random weights drawn from ``seed``.

        Raises:
            StbenchError: the weights are gated, missing from the local cache while offline, or
                the hub cannot be reached (one sentence naming the repository and what to do).
        """
        from stbench.encoders._build import build_encoder

        return build_encoder(self, self.pretrained if pretrained is None else pretrained)

    def _uses(self, package: str) -> bool:
        return package == "torch" or (package == "transformers") == (self.route == "transformers")


def parse_count(text: str) -> tuple[int, int]:
    """``"1.1B"`` -> (1_100_000_000, 100_000_000): the count and one unit of its last digit."""
    match = re.fullmatch(r"(\d+)(?:\.(\d+))?([KMB])", text)
    if match is None:
        raise ValueError(f"Parameter count {text!r} is not like '632M' or '1.1B'.")
    scale = {"K": 10**3, "M": 10**6, "B": 10**9}[match.group(3)]
    decimals = match.group(2) or ""
    unit = scale // 10 ** len(decimals)
    return int(match.group(1)) * scale + int(decimals or 0) * unit, unit


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"
