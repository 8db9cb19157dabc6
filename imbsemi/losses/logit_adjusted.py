"""Logit-adjusted losses: Logit Adjustment (Menon et al., ICLR 2021) and Balanced Softmax
(Ren et al., NeurIPS 2020), and the post-hoc logit adjustment used at evaluation."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from imbsemi.losses.base import ImbalancedLoss


def log_prior(class_counts: torch.Tensor) -> torch.Tensor:
    """log pi_j = log(n_j / sum_k n_k)."""
    return (class_counts / class_counts.sum()).log()


def posthoc_adjust(logits: torch.Tensor, class_counts: torch.Tensor, tau: float) -> torch.Tensor:
    """Post-hoc logit adjustment: z - tau * log pi (predict argmax of it); tau = 0 changes nothing."""
    return logits - tau * log_prior(class_counts.to(logits.device))


class LogitAdjustedLoss(ImbalancedLoss):
    """l_i = CE(z_i + tau * log pi, y_i), pi the training class prior; tau = 0 is cross-entropy.

    Shapes: logits (N, C); target (N,) or (N, C). Predict with the raw logits z.
    """

    def __init__(self, class_counts: Sequence[int], *, tau: float = 1.0) -> None:
        super().__init__(class_counts)
        if tau < 0:
            raise ValueError(f"tau = {tau}: must be >= 0")
        self.tau = tau

    def per_sample(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits + self.tau * log_prior(self.class_counts), target, reduction="none")


class BalancedSoftmaxLoss(LogitAdjustedLoss):
    """l_i = CE(z_i + log pi, y_i) = -log(n_y e^{z_y} / sum_j n_j e^{z_j}); logit adjustment with tau = 1."""

    def __init__(self, class_counts: Sequence[int]) -> None:
        super().__init__(class_counts, tau=1.0)
