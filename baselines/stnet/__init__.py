"""``stnet``: ST-Net (He et al., Nature Biomedical Engineering 2020)."""

from baselines.stnet.config import PAPER, PROFILES, SMALL, STNetConfig
from baselines.stnet.model import STNetModel, dihedral, predict_dihedral_mean
from baselines.stnet.predictor import STNetPredictor

__all__ = [
    "PAPER",
    "PROFILES",
    "SMALL",
    "STNetConfig",
    "STNetModel",
    "STNetPredictor",
    "dihedral",
    "predict_dihedral_mean",
]
