"""Focal loss (Lin et al., ICCV 2017), with class weights as in LDAM-DRW and the original code."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from imbsemi.losses.base import ImbalancedLoss


class FocalLoss(ImbalancedLoss):
    """Focal loss exactly as the original code computes it (spec §6.2), class weights included.

    Per sample, with w the class weights (all 1 when none are set) and z_i the logits (C,):

        ce_i = -sum_c w_c y_ic log softmax(z_i)_c        (= w_{y_i} * -log softmax(z_i)_{y_i} for a label)
        p_i  = exp(-ce_i)
        l_i  = (1 - p_i)^gamma * ce_i
        loss = (1 / N) * sum_i s_i l_i                   (s_i the sample weights, 1 when none)

    For a hard label and no sample weights this is the original's
    ``mean((1 - exp(-ce)) ** gamma * ce)`` with ``ce = F.cross_entropy(z, y, weight=w, reduction='none')``.
    The class weight sits inside the exponent, so with weights p_i is not the model's probability
    (a quirk inherited from LDAM-DRW, kept for faithfulness), and the batch mean is plain: unlike
    weighted cross-entropy it is not divided by sum_i w_{y_i}.

    Soft targets y_i (C,) (self-training on the stored softmax) use PyTorch's soft cross-entropy, so
    without class weights p_i = prod_c softmax(z_i)_c^{y_ic}, the geometric mean of the target's
    probabilities (the model probability of the label for a one-hot y_i). Sample weights s_i (self-
    training confidences) scale l_i outside the focal term: they change how much a sample counts,
    not how hard it is.

    gamma = 1 is the original scripts' value; gamma = 0 is cross-entropy (weighted: a plain mean of
    w_{y_i} * CE_i). Shapes: logits (N, C); target (N,) int64 or (N, C); sample weights (N,).

    Args:
        class_counts: training images per class (C,).
        gamma: focusing parameter, >= 0.
    """

    def __init__(self, class_counts: Sequence[int], *, gamma: float = 1.0) -> None:
        super().__init__(class_counts)
        if gamma < 0:
            raise ValueError(f"gamma = {gamma}: must be >= 0")
        self.gamma = gamma

    def per_sample(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(logits, target, weight=self.class_weight if self.weighted else None, reduction="none")
        p = torch.exp(-ce)
        return (1 - p) ** self.gamma * ce

    def reduce(self, loss: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
        # The class weight is already inside l_i; the original then takes a plain mean over the batch.
        return (loss if weight is None else loss * weight).mean()
