"""ACR: Adaptive Consistency Regularizer (Wei & Gan, CVPR 2023, "Towards Realistic Long-Tailed Semi-Supervised
Learning: Consistency Is All You Need"), as the authors' ``train.py`` (github Gank0078/ACR).

A balanced head ``b`` beside the network's head ``fc`` (standard branch ``s``), two strong views per image.
With pi the labeled class prior and A(tau) = log(pi^tau + 1e-12) (``compute_adjustment_by_py``):

    L_s^x = CE(s(x), y)                              L_b^x = CE(b(x) + A(tau2), y)
    q = softmax(s(u_w) - A(tau))                     mask_s = [max q >= t] or [max softmax(s(u_w)) >= t]
    q2 = softmax(s(u_w) - A(tau12))                  mask_b = [max q2 >= t] or [max softmax(b(u_w)) >= t]
    L_s^u = mean_views mean_j mask_s CE(s(u_s), argmax q)
    L_b^u = mean_views mean_j mask_b CE(b(u_s), argmax q2)
    loss = L_s^x + L_b^x + lambda_u (L_s^u + L_b^u)          (the original: lambda_u = 1)

Estimate of the unlabeled distribution, from interval (ACR's epoch of ``eval_step`` = 500 steps; here
``eval_every`` steps) ``est_epoch`` + 1 on, every step: n = the counts of the balanced branch's confident
pseudo-labels argmax softmax(b(u_w)), u <- ema_u u + (1 - ema_u) n / sum n (u starts uniform), and the
symmetric divergences d_k = (KL(u || a_k) + KL(a_k || u)) / 2 to the anchors a = (pi, uniform, reversed pi)
are summed. At the end of each interval (``on_interval_end``, the original's start of the next epoch), once
the next interval is past ``est_epoch``: tau = tau1 exp(dbar_con) / sum_k exp(dbar_k), dbar = sums /
eval_every (taumin = 0, taumax = tau1; kept if NaN), and the sums restart. Until then tau = tau1 (tau12 and
tau2 never change); the first update sees no sums (tau = tau1 / 3), as the original. The balanced head
predicts (the original selects and reports its accuracy): evaluation and the exported network (the EMA
network whose ``fc`` is the EMA ``b``). Defaults: the original's (tau1 = tau12 = tau2 = 2, est_epoch = 5)
and its README's CIFAR-10-LT runs' ema_u = 0.99 (its argparse default: 0.9).

Departures: n counts every confident pseudo-label (the original's ``now_mask[targets_u_b] += mask_b`` keeps
at most one per class and step, since indexed += drops repeated indices); the reversed anchor gives the
i-th most frequent class the i-th least frequent prior (the original flips the class order, the same for
CIFAR-LT's classes sorted by frequency); the counts are not restricted by the original's ``u_real != -2``,
which reads the unlabeled images' labels (and is true for every CIFAR image).
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from imbsemi.config import SemiConfig
from imbsemi.errors import ConfigError
from imbsemi.semi.base import FixMatch, StepOutputs


class ACR(FixMatch):
    """FixMatch with ACR's balanced head ``net["balanced"]``, logit-adjusted losses and the adaptive adjustment.

    Args:
        tau1: the standard branch's pseudo-label adjustment before the estimate, and its largest value.
        tau12: adjustment of the standard head's pseudo-labels for the balanced branch.
        tau2: adjustment of the balanced head's labeled cross-entropy.
        ema_u: momentum of the estimated unlabeled class distribution.
        est_epoch: intervals of ``eval_every`` steps before the estimate starts (it starts in the next one).
    """

    strong_views = 2

    def __init__(self, model: nn.Module, settings: SemiConfig, labeled_counts: Sequence[int], pool_size: int, *,
                 tau1: float = 2.0, tau12: float = 2.0, tau2: float = 2.0, ema_u: float = 0.99,
                 est_epoch: int = 5) -> None:
        super().__init__(model, settings, labeled_counts, pool_size)
        fc = model.fc
        if not (isinstance(fc, nn.Linear) and fc.bias is not None
                and tuple(fc.weight.shape) == (self.num_classes, model.feature_dim)):
            raise ConfigError("method acr: the network's head `fc` must be a plain nn.Linear with a bias (not "
                              "use_norm), since the exported network's fc is replaced by the balanced head")
        self.tau1, self.tau12, self.tau2, self.ema_u, self.est_epoch = tau1, tau12, tau2, ema_u, est_epoch
        self.register_buffer("tau", torch.tensor(float(tau1)))  # the standard branch's current adjustment
        self.register_buffer("estimate", torch.full((self.num_classes,), 1.0 / self.num_classes))  # u
        self.register_buffer("divergence_sums", torch.zeros(3))  # this interval's sums of d_con, d_uni, d_rev

    def extra_heads(self, feature_dim: int, num_classes: int) -> dict[str, nn.Module]:
        head = nn.Linear(feature_dim, num_classes)
        nn.init.xavier_normal_(head.weight)  # as the original's WideResNet initialises fc1
        nn.init.zeros_(head.bias)
        return {"balanced": head}

    def adjustment(self, tau: float | torch.Tensor) -> torch.Tensor:
        """log(pi^tau + 1e-12) of the labeled class prior pi."""
        prior = self.labeled_counts / self.labeled_counts.sum()
        return torch.log(prior ** tau + 1e-12)

    def anchors(self) -> torch.Tensor:
        """(3, C): the consistent (labeled prior), uniform and reversed anchor distributions."""
        prior = self.labeled_counts / self.labeled_counts.sum()
        order = prior.argsort(descending=True, stable=True)
        reversed_prior = torch.empty_like(prior).index_copy_(0, order, prior[order].flip(0))
        return torch.stack([prior, torch.full_like(prior, 1.0 / len(prior)), reversed_prior])

    def anchor_divergences(self, estimate: torch.Tensor) -> torch.Tensor:
        """(3,) (KL(u || a) + KL(a || u)) / 2 of ``estimate`` u to each anchor a."""
        anchors = self.anchors()
        return 0.5 * ((estimate - anchors) * (estimate.log() - anchors.log())).sum(1)

    def pseudo_targets(self, probs: torch.Tensor, out: StepOutputs) -> torch.Tensor:
        """softmax(s(u_w) - A(tau)): the standard branch's adjusted pseudo-label distribution."""
        return (out.logits_weak.detach().float() - self.adjustment(self.tau)).softmax(1)

    def confidence_mask(self, targets: torch.Tensor, out: StepOutputs) -> torch.Tensor:
        """Confident adjusted or confident unadjusted standard prediction."""
        plain, threshold = out.logits_weak.detach().float().softmax(1), self.settings.threshold
        return ((targets.max(1).values >= threshold) | (plain.max(1).values >= threshold)).float()

    def supervised_loss(self, out: StepOutputs) -> torch.Tensor:
        """CE of the standard head plus the logit-adjusted (tau2) CE of the balanced head."""
        balanced = self.net["balanced"](out.features_labeled).float() + self.adjustment(self.tau2)
        return F.cross_entropy(out.logits_labeled, out.batch.targets) + F.cross_entropy(balanced, out.batch.targets)

    def unlabeled_loss(self, out: StepOutputs, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Both branches' consistency; past ``est_epoch`` also counts the balanced head's confident pseudo-labels."""
        head, threshold = self.net["balanced"], self.settings.threshold
        with torch.no_grad():
            adjusted = out.logits_weak.detach().float() - self.adjustment(self.tau12)
            confidence_h2, labels_h2 = adjusted.softmax(1).max(1)
            confidence_b, labels_b = head(out.features_weak.detach()).float().softmax(1).max(1)
            mask_b = ((confidence_h2 >= threshold) | (confidence_b >= threshold)).float()
            if self.global_step // self.settings.eval_every > self.est_epoch:
                self.update_estimate(labels_b, (confidence_b >= threshold).float())
        balanced = torch.stack([(F.cross_entropy(head(features), labels_h2, reduction="none") * mask_b).mean()
                                for features in out.features_strong]).mean()
        return super().unlabeled_loss(out, targets, mask) + balanced

    def update_estimate(self, labels: torch.Tensor, confident: torch.Tensor) -> None:
        """u <- ema_u u + (1 - ema_u) n / sum n for the confident ``labels``' counts n, and add u's anchor
        divergences to this interval's sums (nothing when no label is confident)."""
        counts = (F.one_hot(labels, self.num_classes).float() * confident[:, None]).sum(0)
        total = counts.sum()
        estimate = self.ema_u * self.estimate + (1 - self.ema_u) * counts / total.clamp_min(1)
        self.estimate.copy_(torch.where(total > 0, estimate, self.estimate))
        self.divergence_sums.add_(torch.where(total > 0, self.anchor_divergences(estimate), 0.0))

    def on_interval_end(self) -> None:
        """tau = tau1 softmax(mean divergences)_con once the next interval is past ``est_epoch``; restart sums."""
        if self.global_step // self.settings.eval_every > self.est_epoch:
            weights = (self.divergence_sums / self.settings.eval_every).exp()
            tau = self.tau1 * weights[0] / weights.sum()
            self.tau.copy_(torch.where(tau.isnan(), self.tau, tau))
        self.divergence_sums.zero_()

    def eval_logits(self, net: nn.ModuleDict, images: torch.Tensor) -> torch.Tensor:
        """The balanced head's logits."""
        return net["balanced"](net["model"].features(images))

    def export_network(self) -> nn.Module:
        """A copy of the EMA network whose ``fc`` is the EMA balanced head."""
        network = copy.deepcopy(self.ema["model"])
        network.fc = copy.deepcopy(self.ema["balanced"])
        return network
