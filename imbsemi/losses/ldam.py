"""Label-distribution-aware margin loss (Cao et al., NeurIPS 2019)."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from imbsemi.losses.base import ImbalancedLoss, one_hot_or_soft


class LDAMLoss(ImbalancedLoss):
    """l_i = CE(s * (z_i - m * y_i), y_i), margins m_j = max_m * n_j^(-1/4) / max_k n_k^(-1/4).

    The rarest class gets max_m. Meant for the cosine (NormedLinear) head, so z is in [-1, 1];
    ``requires_normed_head`` tells the trainer to build it. Defaults max_m = 0.5, s = 30 (spec §6.3).
    Shapes: logits (N, C); target (N,) or (N, C) (a soft target takes the expected margin).
    Margins are an fp32 buffer and the loss runs in fp32 even under autocast (see ImbalancedLoss);
    so do the cosines of the NormedLinear head.
    """

    requires_normed_head = True

    def __init__(self, class_counts: Sequence[int], *, max_m: float = 0.5, s: float = 30.0) -> None:
        super().__init__(class_counts)
        if max_m <= 0:
            raise ValueError(f"max_m = {max_m}: must be > 0")
        if s <= 0:
            raise ValueError(f"s = {s}: must be > 0")
        margins = self.class_counts ** -0.25
        self.register_buffer("margins", margins * (max_m / margins.max()))
        self.s = s

    def per_sample(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        shifted = logits - one_hot_or_soft(target, self.num_classes) * self.margins
        return F.cross_entropy(self.s * shifted, target, reduction="none")
