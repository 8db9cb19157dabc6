"""CReST+: class-rebalancing self-training with progressive distribution alignment (Wei et al., CVPR 2021)
on FixMatch, as USB's ``semilearn/imb_algorithms/crest/`` (crest.py, utils.py).

Training is split into ``num_generations`` generations of steps / num_generations steps each. At the end of
every generation but the last the EMA network predicts the whole pool; of the images predicted as class k,
the share

    mu_k = (N_{C+1-r(k)} / N_1)^(1 / crest_alpha)

of the most confident (softmax maximum) join the labeled set under label k for the next generation (each
generation's selection replaces the previous one), where r(k) is k's rank by labeled count (N_1 the
largest, N_C the smallest): the rarer the class, the larger the share; the number is floor(n_k mu_k).

Progressive distribution alignment (the "+"): with p the labeled class distribution, generation g of G
aligns the weak-view probabilities q to p^t, t = (1 - g / (G - 1)) + (g / (G - 1)) crest_dist_align_t:

    q~ = q (p^t / sum p^t + 1e-6) / (p_model + 1e-6),  renormalised,

where p_model is the EMA (momentum 0.999) of the batch means of q, updated before the alignment and
started at the first batch's mean (USB's DistAlignEMAHook); the mask and the pseudo-labels use q~.

Generation boundaries: ``on_interval_end`` runs after each evaluation, so generation g ends at the first
evaluation at or after step g x steps / G (exact when ``eval_every`` divides steps / G).
Departures from USB: USB trains each generation from scratch (new network, optimiser, schedule) for the
full number of steps; here the generations share one run of ``steps`` steps, the network, optimiser and
learning-rate schedule continuing across them. The exponent is 1 / crest_alpha as in USB's ``get_split``
(crest_alpha = 3, so (N_{C+1-r} / N_1)^(1/3)); USB takes N_{C+1-r} / N_1 from the exponential profile
with the class index as rank, here from the labeled counts and their ranks (equal on an exponential
profile up to the rounding of the counts; ties in the counts are ranked by class index).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from imbsemi.config import SemiConfig
from imbsemi.semi.base import FixMatch, StepOutputs

MOMENTUM = 0.999  # of p_model, USB's DistAlignEMAHook default


def rebalancing_selection(logits: torch.Tensor, labeled_counts: torch.Tensor, alpha: float) -> torch.Tensor:
    """Per pool image its added label, -1 for none: of the images predicted k, the floor(n_k mu_k) most
    confident, mu_k = (N_{C+1-r(k)} / N_1)^(1 / alpha)."""
    confidence, predicted = logits.float().softmax(1).max(1)
    ranked = labeled_counts.double().sort(descending=True, stable=True)
    rates = torch.empty_like(ranked.values)
    rates[ranked.indices] = (ranked.values.flip(0) / ranked.values[0]) ** (1 / alpha)
    labels = torch.full_like(predicted, -1)
    for k, rate in enumerate(rates.tolist()):
        members = (predicted == k).nonzero().flatten()
        order = confidence[members].sort(descending=True, stable=True).indices
        chosen = members[order[:int(len(members) * rate)]]
        labels[chosen] = k
    return labels


class CReST(FixMatch):
    """FixMatch with CReST's per-generation class-rebalancing additions and progressive alignment.

    Args:
        num_generations: generations G the steps are split into.
        crest_alpha: selection exponent: mu_k = (N_{C+1-r(k)} / N_1)^(1 / crest_alpha).
        crest_dist_align_t: the alignment temperature of the last generation (t goes from 1 to it).
        crest_pro_dist_align: progressive distribution alignment on (CReST+) or off (CReST).
    """

    def __init__(self, model: nn.Module, settings: SemiConfig, labeled_counts: Sequence[int], pool_size: int, *,
                 num_generations: int = 6, crest_alpha: float = 3.0, crest_dist_align_t: float = 0.5,
                 crest_pro_dist_align: bool = True) -> None:
        super().__init__(model, settings, labeled_counts, pool_size)
        if num_generations < 1 or crest_alpha <= 0:
            raise ValueError("num_generations must be at least 1 and crest_alpha positive")
        self.num_generations, self.crest_alpha = num_generations, crest_alpha
        self.crest_dist_align_t, self.crest_pro_dist_align = crest_dist_align_t, crest_pro_dist_align
        self.register_buffer("generation", torch.zeros((), dtype=torch.long))
        self.register_buffer("added_labels", torch.full((pool_size,), -1, dtype=torch.long))  # -1: not added
        self.register_buffer("p_model", torch.zeros(self.num_classes))  # zeros: no batch yet

    def temperature(self) -> torch.Tensor:
        """t of the current generation g: 1 - (g / (G - 1)) (1 - crest_dist_align_t); 1 when G = 1."""
        share = self.generation / max(self.num_generations - 1, 1)
        return 1 - share * (1 - self.crest_dist_align_t)

    def pseudo_targets(self, probs: torch.Tensor, out: StepOutputs) -> torch.Tensor:
        """The weak-view probabilities aligned to the tempered labeled distribution (CReST+)."""
        if not self.crest_pro_dist_align:
            return probs
        mean = self.gathered(probs).mean(0)
        self.p_model.copy_(torch.where(self.p_model.sum() > 0, MOMENTUM * self.p_model + (1 - MOMENTUM) * mean,
                                       mean))
        target = (self.labeled_counts / self.labeled_counts.sum()) ** self.temperature()
        aligned = probs * (target / target.sum() + 1e-6) / (self.p_model + 1e-6)
        return aligned / aligned.sum(1, keepdim=True)

    def gathered(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` of every process, concatenated (under DDP; else ``tensor``)."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return self.all_gather(tensor).flatten(0, 1)
        return tensor

    def on_interval_end(self) -> None:
        """At the first evaluation of a new generation: relabel the pool with the EMA network and select
        the next generation's additions."""
        reached = min(self.global_step * self.num_generations // self.settings.steps, self.num_generations - 1)
        if reached <= int(self.generation):
            return
        logits = self.trainer.datamodule.pool_logits(lambda images: self.eval_logits(self.ema, images))
        self.added_labels.copy_(rebalancing_selection(logits, self.labeled_counts, self.crest_alpha))
        self.generation.fill_(reached)

    def labeled_additions(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The pool images selected at the last generation boundary, with their predicted labels."""
        index = (self.added_labels >= 0).nonzero().flatten()
        return (index, self.added_labels[index]) if len(index) else None
