"""The ``clip`` baseline's configuration: GenST's autoencoder settings plus the contrastive
loss and retrieval settings, with ``small`` and ``paper`` profiles.

The autoencoder fields are GenST's own profiles (same K, widths, backbone, input pipeline and
the common protocol: 100 epochs, RAdam lr 1e-4, weight decay 1e-4). Where mclSTExp's authors
differ (Min et al., 2024): DenseNet-121 image encoder, 256-d projection heads, temperature 1
on unnormalised projections, AdamW lr 1e-4 with weight decay 1e-3, batch 128.

Our choices: the contrasted vectors are GenST's coefficient vectors c_i and c_g (the space
GenST aligns with L_coef, so InfoNCE replaces exactly GenST's alignment), L2-normalised, with
hard identity targets and a fixed temperature T = 0.07 (CLIP's initial value). The coefficient
vectors are softmax outputs (non-negative), so their cosine similarities lie in [0, 1], not
[-1, 1]: with mclSTExp's T = 1 the logits would span at most 1 and the softmax would stay
almost flat; T = 0.07 stretches them over [0, 14.3]. Retrieval uses
BLEEP's top-50.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from genst.config import PROFILES as GENST_PROFILES
from genst.config import AutoencodersConfig


@dataclass(frozen=True)
class CLIPConfig(AutoencodersConfig):
    """GenST's autoencoders (see :class:`genst.config.AutoencodersConfig`) plus:

    Attributes:
        temperature: T of the symmetric InfoNCE loss on L2-normalised coefficient vectors.
        w_clip: weight of the InfoNCE term next to L_i + L_g.
        top_k: training spots averaged per query at inference (retrieval).
    """

    temperature: float
    w_clip: float
    top_k: int


def _from_genst(profile: str, **extra: float | int) -> CLIPConfig:
    base = asdict(GENST_PROFILES[profile])
    keep = {k: v for k, v in base.items() if k in AutoencodersConfig.__dataclass_fields__}
    return CLIPConfig(**keep, **extra)


PAPER = _from_genst("paper", temperature=0.07, w_clip=1.0, top_k=50)
SMALL = _from_genst("small", temperature=0.07, w_clip=1.0, top_k=50)

PROFILES: dict[str, CLIPConfig] = {"small": SMALL, "paper": PAPER}
