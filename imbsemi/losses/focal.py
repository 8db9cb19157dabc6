"""Focal loss (Lin et al., ICCV 2017)."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from imbsemi.losses.base import ImbalancedLoss, one_hot_or_soft


class FocalLoss(ImbalancedLoss):
    """l_i = (1 - p_i)^gamma * CE_i, with p_i = sum_c y_ic softmax(z_i)_c the probability of the target.

    gamma = 1 is the original code's value (spec §6.2); gamma = 0 is cross-entropy. Class weights
    scale l_i outside the focal term, so p_i is always the model's probability (the original put
    the weight inside the exponent). Shapes: logits (N, C); target (N,) or (N, C).
    """

    def __init__(self, class_counts: Sequence[int], *, gamma: float = 1.0) -> None:
        super().__init__(class_counts)
        if gamma < 0:
            raise ValueError(f"gamma = {gamma}: must be >= 0")
        self.gamma = gamma

    def per_sample(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        probs = one_hot_or_soft(target, self.num_classes)
        p = (F.softmax(logits, 1) * probs).sum(1)
        return (1 - p).clamp(min=0) ** self.gamma * F.cross_entropy(logits, target, reduction="none")
