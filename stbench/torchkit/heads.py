"""Expression output layers that start at the ``mean`` baseline.

Every model that regresses expression ends in a linear layer whose weight starts at zero and
whose bias starts at the per-gene training mean (log1p): the untrained model predicts the
``mean`` baseline exactly, and training learns deviations from it. (A zero last-layer weight
still trains: its gradient is the outer product of the layer's input and the error; the layers
below receive gradient from the second step on.)
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def init_mean_head(layer: nn.Linear, mean_expression: np.ndarray) -> None:
    """Set ``layer`` (in_features -> n_genes) to weight 0, bias = ``mean_expression`` (n_genes,)."""
    mean = torch.as_tensor(np.asarray(mean_expression, np.float32))
    if mean.shape != layer.bias.shape:
        raise ValueError(f"mean expression has shape {tuple(mean.shape)}, the layer's bias {tuple(layer.bias.shape)}")
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.copy_(mean)
