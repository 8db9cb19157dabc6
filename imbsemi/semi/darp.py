"""DARP: Distribution Aligning Refinery of Pseudo-labels (Kim et al., NeurIPS 2020) on FixMatch, as the
authors' ``train_fix.py`` (bbuing9/DARP) and USB's ``semilearn/imb_algorithms/darp/``.

Every step the weak-view softmax of each unlabeled image is stored by its pool index (``memory``, N x C,
uniform at first). After the warm-up, every ``darp_num_refine_iter`` steps the whole memory A is refined
towards the class totals c = N x (labeled class distribution) (USB's estimate: the labeled distribution
scaled to the pool size):

1. noisy entries out (DARP's ``estimate_pseudo``): per class j, the floor(alpha c_j) images of largest A_ij
   are kept (s_ij = 1, else 0) and k_j is the sum of their A_ij; A'_ij = (A_ij s_ij (c_j / k_j) + 1e-6),
   each row renormalised (epsilons as the source);
2. DARP's ``opt_solver``: the solution of min_M sum_i w_i KL(M_i || A'_i) with rows summing to 1 and columns
   to c, weights w_i = 1 / H_i (H_i the entropy of A'_i), has the form M_ij = A'_ij exp(-nu_j H_i) / Z_i
   (Z_i normalises the row); ``darp_iter_t`` rounds alternate the row normalisation with solving, per
   class j, sum_i A'_ij exp(-nu_j H_i) / Z_i = c_j for nu_j by Newton's method (at most 30 steps).

The refined rows are stored (``refined``); the batch's rows of it are its targets (refinement steps
included) until the next refinement, and the confidence mask is taken on them (as the authors' code).

Departures: the solver works in log space with Newton's method on log sum_i(...) - log c_j with its
derivative, to convergence (USB/DARP: scipy's secant method at tolerance 0.1, whose ``e`` factors
cancel); the warm-up is a share of the steps (``darp_warmup_ratio``; USB: 200 of 256 epochs) and
refinement starts on the first multiple of ``darp_num_refine_iter`` after it (USB serves the initial
uniform rows for up to 9 steps); no ``est`` option (an externally estimated pool distribution); USB takes
the mask on the unrefined probabilities. Under DDP the memory gathers every process's batch.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from imbsemi.config import SemiConfig
from imbsemi.semi.base import FixMatch, StepOutputs


def remove_noisy_entries(probs: torch.Tensor, totals: torch.Tensor, alpha: float) -> torch.Tensor:
    """DARP's first step: per class j keep the floor(alpha c_j) largest entries, scaled by c_j / (their sum),
    drop the rest, add 1e-6 and renormalise the rows."""
    count = torch.floor(alpha * totals).long()
    values, order = probs.sort(dim=0, descending=True, stable=True)
    top = (torch.arange(len(probs), device=probs.device)[:, None] < count).to(probs.dtype)
    kept = torch.zeros_like(probs).scatter_(0, order, top)
    weights = (totals + 1e-6) / ((values * top).sum(0) + 1e-6)
    scaled = probs * kept * weights + 1e-6
    return scaled / scaled.sum(1, keepdim=True)


def opt_solver(probs: torch.Tensor, totals: torch.Tensor, iterations: int, newton_steps: int = 30) -> torch.Tensor:
    """DARP's refinement M_ij = A_ij exp(-nu_j H_i) / Z_i: rows sum to 1, columns to ``totals`` (at
    convergence of the ``iterations`` alternations); computed in float64, returned in ``probs``' dtype."""
    a = probs.double()
    entropy = -(a * torch.log(a + 1e-6)).sum(1, keepdim=True)  # 1 / w_i
    log_a, log_c = a.log(), totals.double().log()
    nu = torch.zeros(a.shape[1], dtype=a.dtype, device=a.device)
    for _ in range(iterations):
        log_ax = log_a - (log_a - entropy * nu).logsumexp(1, keepdim=True)  # log(A_ij / Z_i)
        for _ in range(newton_steps):
            exponent = log_ax - entropy * nu
            value = exponent.logsumexp(0) - log_c
            slope = -(exponent.softmax(0) * entropy).sum(0)
            step = value / slope.clamp(max=-1e-12)
            nu = nu - step
            if step.abs().max() <= 1e-10:
                break
    return (log_a - entropy * nu).softmax(1).to(probs.dtype)


class DARP(FixMatch):
    """FixMatch whose pseudo-label distributions are DARP's refinement of the stored pool predictions.

    Args:
        darp_warmup_ratio: share of the steps before refinement starts (USB: 200 of 256 epochs).
        darp_alpha: per class, floor(alpha x target total) entries are kept before solving.
        darp_iter_t: alternations of the solver (T).
        darp_num_refine_iter: steps between refinements.
    """

    def __init__(self, model: nn.Module, settings: SemiConfig, labeled_counts: Sequence[int], pool_size: int, *,
                 darp_warmup_ratio: float = 200 / 256, darp_alpha: float = 2.0, darp_iter_t: int = 10,
                 darp_num_refine_iter: int = 10) -> None:
        super().__init__(model, settings, labeled_counts, pool_size)
        if darp_num_refine_iter < 1 or darp_iter_t < 1:
            raise ValueError("darp_num_refine_iter and darp_iter_t must be at least 1")
        self.darp_warmup_ratio, self.darp_alpha = darp_warmup_ratio, darp_alpha
        self.darp_iter_t, self.darp_num_refine_iter = darp_iter_t, darp_num_refine_iter
        uniform = torch.full((pool_size, self.num_classes), 1 / self.num_classes)
        self.register_buffer("memory", uniform.clone())  # latest weak-view softmax per pool image
        self.register_buffer("refined", uniform.clone())  # refined targets of the last refinement

    def refine_start(self) -> int:
        """The first refinement step: the first multiple of ``darp_num_refine_iter`` after the warm-up."""
        every = self.darp_num_refine_iter
        return math.ceil(self.darp_warmup_ratio * self.settings.steps / every) * every

    def target_totals(self) -> torch.Tensor:
        """Class totals c of the pool: the labeled class distribution times the pool size."""
        return self.labeled_counts / self.labeled_counts.sum() * self.pool_size

    def refine(self, probs: torch.Tensor) -> torch.Tensor:
        """DARP's refinement of the stored predictions ``probs`` (N, C)."""
        totals = self.target_totals()
        return opt_solver(remove_noisy_entries(probs, totals, self.darp_alpha), totals, self.darp_iter_t)

    def gathered(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` of every process, concatenated (under DDP; else ``tensor``)."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return self.all_gather(tensor).flatten(0, 1)
        return tensor

    def pseudo_targets(self, probs: torch.Tensor, out: StepOutputs) -> torch.Tensor:
        """Stores ``probs`` by pool index; after the warm-up, the batch's refined rows (refreshed every
        ``darp_num_refine_iter`` steps)."""
        index = out.batch.unlabeled_index
        self.memory[self.gathered(index)] = self.gathered(probs).to(self.memory.dtype)
        step = self.global_step
        if step < self.refine_start():
            return probs
        if step % self.darp_num_refine_iter == 0:
            self.refined.copy_(self.refine(self.memory))
        return self.refined[index].to(probs.dtype)
