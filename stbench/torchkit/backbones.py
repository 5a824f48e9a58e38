"""Create timm backbones, with pretrained weights from the local cache or the hub.

Weights are never fetched at import time. ``pretrained=True`` uses the Hugging Face cache
(``HF_HOME``) first and the hub when reachable; when neither works the user gets one
sentence saying what to do. Small profiles use ``pretrained=False`` (random weights), which
is how the CPU tests run without network.
"""

from __future__ import annotations

from typing import Any

from stbench.errors import StbenchError


def create_backbone(name: str, *, pretrained: bool, **kwargs: Any):
    """``timm.create_model(name, pretrained=pretrained, **kwargs)`` with a clear error.

    Args:
        name: a timm model name, e.g. ``"resnet50.tv_in1k"`` or ``"hf-hub:MahmoodLab/uni"``.
        pretrained: load weights (cache or hub) or start from random weights.
        kwargs: passed to timm (e.g. ``num_classes=0``, ``global_pool=""``).
    """
    import timm

    try:
        return timm.create_model(name, pretrained=pretrained, **kwargs)
    except Exception as exc:
        if not pretrained:
            raise
        hint = (
            "request access on its Hugging Face page and log in (HF_TOKEN or 'hf auth login')"
            if _refused_access(exc)
            else "connect to the Hugging Face hub once, or copy the weights into the HF cache (HF_HOME)"
        )
        raise StbenchError(
            f"Pretrained weights for {name} are neither in the local cache nor downloadable "
            f"({type(exc).__name__}); {hint}, or use '--profile small' (random weights)."
        ) from exc


def _refused_access(exc: BaseException) -> bool:
    """Whether the hub refused access (a gated repository, or HTTP 401/403) anywhere in the
    exception's chain, by the hub client's error types and status codes."""
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, GatedRepoError):
            return True
        if isinstance(seen, HfHubHTTPError) and getattr(seen.response, "status_code", None) in (401, 403):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
