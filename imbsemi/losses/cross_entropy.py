"""Cross-entropy with hard or soft targets."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from imbsemi.losses.base import ImbalancedLoss


class CrossEntropyLoss(ImbalancedLoss):
    """l_i = -log softmax(z_i)_{y_i} for a hard label, -sum_c y_ic log softmax(z_i)_c for a soft target.

    Shapes: logits (N, C); target (N,) or (N, C). Reduction and weights: see ImbalancedLoss.
    """

    def per_sample(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, target, reduction="none")
