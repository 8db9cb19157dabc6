"""The shared reduction of every imbalance-aware loss: class weights (re-weighting, DRW) and
per-sample weights (self-training confidences) on top of a per-sample loss, computed in fp32."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from imbsemi.accel import full_precision
from imbsemi.errors import ConfigError


class ImbalancedLoss(nn.Module):
    """Base class. Subclasses define ``per_sample(logits, target) -> (N,)`` and may override ``reduce``.

    ``forward(logits, target, weight=None)`` returns sum_i a_i s_i l_i / sum_i a_i, where l_i is the
    per-sample loss, s_i the optional sample weight and a_i the class weight of the target (w_{y_i},
    or sum_c w_c y_ic for a soft target; 1 without class weights). For hard targets and no sample
    weights this is PyTorch's weighted cross-entropy reduction, as the original code (spec §6.1).

    Mixed precision: the loss is always computed in fp32 with autocast off, whatever the dtype of
    the logits (bf16 under the trainer's ``bf16-mixed`` on CUDA), so autocast changes a loss only
    through the rounding of its input logits, never through its own arithmetic. The gradient flows
    back to the logits in their own dtype.

    Args:
        class_counts: training images per class (C,); every class needs at least one.
    """

    def __init__(self, class_counts: Sequence[int]) -> None:
        super().__init__()
        counts = torch.as_tensor(list(class_counts), dtype=torch.float32)
        if len(counts) == 0 or (counts <= 0).any():
            empty = [i for i, n in enumerate(counts.tolist()) if n <= 0]
            raise ConfigError(f"class_counts {list(class_counts)}: class(es) {empty} have no training images; "
                              "every class needs at least one (lower rho or check the data)")
        self.register_buffer("class_counts", counts)
        self.register_buffer("class_weight", torch.ones_like(counts))
        self.weighted = False

    @property
    def num_classes(self) -> int:
        return len(self.class_counts)

    def set_class_weight(self, weight: torch.Tensor | None) -> None:
        """Use class weights (C,) from now on, or none (``None``)."""
        self.weighted = weight is not None
        if weight is not None:
            self.class_weight.copy_(torch.as_tensor(weight, dtype=torch.float32))

    def per_sample(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-sample loss l (N,) of fp32 logits (N, C) and a target (N,) int64 or (N, C) fp32."""
        raise NotImplementedError

    def reduce(self, loss: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
        """sum_i a_i s_i l_i / sum_i a_i of per-sample losses (N,); see the class docstring."""
        if weight is not None:
            loss = loss * weight
        if not self.weighted:
            return loss.mean()
        factor = self.class_weight[target] if target.dim() == 1 else target @ self.class_weight
        return (factor * loss).sum() / factor.sum()

    def forward(self, logits: torch.Tensor, target: torch.Tensor,
                weight: torch.Tensor | None = None) -> torch.Tensor:
        """Args: logits (N, C) of any float dtype; target (N,) int64 labels or (N, C) probabilities;
        weight (N,) or None. Returns the scalar fp32 loss."""
        # The one place where a loss leaves autocast and bf16: subclasses see fp32 tensors only.
        with full_precision(logits.device):
            logits = logits.float()
            if target.is_floating_point():
                target = target.float()
            if weight is not None:
                weight = weight.float()
            return self.reduce(self.per_sample(logits, target), target, weight)


def one_hot_or_soft(target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(N, C) probabilities of a hard (N,) or soft (N, C) target."""
    if target.dim() == 1:
        return torch.nn.functional.one_hot(target, num_classes).float()
    return target.float()
