"""Cross-entropy with hard or soft targets and optional per-sample weights."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class CrossEntropyLoss(nn.Module):
    """mean_i w_i * CE(z_i, y_i), with CE(z, y) = -log softmax(z)_y for a hard label y (N,)
    and -sum_c y_c log softmax(z)_c for a soft target y (N, C).

    Args:
        class_counts: training images per class (unused by plain CE; part of the loss contract).
    """

    def __init__(self, class_counts: Sequence[int]) -> None:
        super().__init__()
        self.num_classes = len(class_counts)

    def forward(self, logits: torch.Tensor, target: torch.Tensor,
                weight: torch.Tensor | None = None) -> torch.Tensor:
        loss = F.cross_entropy(logits.float(), target, reduction="none")
        if weight is not None:
            loss = loss * weight
        return loss.mean()
