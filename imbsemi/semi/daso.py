"""DASO: Distribution-Aware Semantics-Oriented pseudo-labels (Oh et al., CVPR 2022) on FixMatch, as USB's
``semilearn/imb_algorithms/daso/{daso,utils}.py`` and the authors' ``lib/models/daso_model.py``.

Every step the EMA network's features of the labeled batch join a queue of the last ``queue_len`` features
per class; the class prototypes are the queues' means, c_k = mean(queue_k). After ``warmup_steps``:

    semantic pseudo-label   q^sem = softmax(cos(f^weak, c) / proto_temp)
    blended pseudo-label    q = (1 - w_{yhat}) p + w_{yhat} q^sem,   p the linear softmax, yhat = argmax p
    weights (dist_aware)    w_k = (n_k / max_j n_j)^(1 / dist_temp)   (w = interp_alpha without dist_aware)
    semantic alignment      L_align = mean_j CE(softmax(cos(f_j^strong, c) / proto_temp), q^sem_j)
    loss                    FixMatch loss on q (hard label argmax q, mask max q >= threshold)
                            + daso_lambda L_align

n_k counts the pseudo-labels argmax q of class k over the last complete window of ``dist_every`` steps
(before the first one, n = 0: no blending). Departures: the blend uses the semantic pseudo-labels of the
same step (USB blends with the previous step's batch); the confidence mask is on the blended q, as the
authors' code (USB masks on p); blending and the alignment loss both start at step ``warmup_steps`` (as
the authors; USB starts the loss one step earlier).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from imbsemi.accel import full_precision
from imbsemi.config import SemiConfig
from imbsemi.data.paired_loader import PairedBatch
from imbsemi.semi.base import FixMatch, StepOutputs


class DASO(FixMatch):
    """FixMatch whose pseudo-labels blend in similarities to class prototypes, plus their alignment loss.

    Args:
        queue_len: labeled features kept per class for the prototypes.
        proto_temp: temperature of the similarity logits.
        dist_aware: blend with per-class weights from the pseudo-label distribution (else interp_alpha).
        dist_temp: temperature that flattens the distribution into the weights.
        interp_alpha: the fixed blending weight without dist_aware.
        daso_lambda: weight of the semantic alignment loss.
        warmup_steps: steps of plain FixMatch before blending and alignment start.
        dist_every: steps per window of the pseudo-label distribution.
    """

    def __init__(self, model: nn.Module, settings: SemiConfig, labeled_counts: Sequence[int], pool_size: int, *,
                 queue_len: int = 256, proto_temp: float = 0.05, dist_aware: bool = True, dist_temp: float = 1.5,
                 interp_alpha: float = 0.5, daso_lambda: float = 1.0, warmup_steps: int = 5120,
                 dist_every: int = 100) -> None:
        super().__init__(model, settings, labeled_counts, pool_size)
        self.queue_len, self.proto_temp, self.dist_aware, self.dist_temp = queue_len, proto_temp, dist_aware, dist_temp
        self.interp_alpha, self.daso_lambda, self.warmup_steps, self.dist_every = (interp_alpha, daso_lambda,
                                                                                   warmup_steps, dist_every)
        classes = self.num_classes
        self.register_buffer("queue", torch.zeros(classes, queue_len, model.feature_dim))
        self.register_buffer("queue_pushed", torch.zeros(classes, dtype=torch.long))  # features ever pushed
        self.register_buffer("pl_window", torch.zeros(classes))  # pseudo-labels of the current window
        self.register_buffer("pl_counts", torch.zeros(classes))  # of the last complete window

    def enqueue(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Push ``features`` into their classes' queues (first in, first out)."""
        onehot = F.one_hot(labels, self.num_classes)
        rank = (onehot.cumsum(0) - 1).gather(1, labels[:, None]).squeeze(1)  # position within its class
        counts = onehot.sum(0)
        kept = rank >= counts[labels] - self.queue_len  # the last queue_len of a class in this batch
        slot = (self.queue_pushed[labels] + rank) % self.queue_len
        self.queue[labels[kept], slot[kept]] = features[kept].to(self.queue.dtype)
        self.queue_pushed += counts

    def prototypes(self) -> torch.Tensor:
        """(C, D) mean of each class's queued features (zero for an empty queue)."""
        held = self.queue_pushed.clamp(max=self.queue_len).clamp(min=1)
        return self.queue.sum(1) / held[:, None]

    def similarity_logits(self, features: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
        """cos(features, prototypes) / proto_temp, (N, C), in fp32 (bf16 would round the scaled cosines)."""
        with full_precision(features.device):
            return F.normalize(features.float(), dim=1) @ F.normalize(prototypes, dim=1).T / self.proto_temp

    def blend_weights(self) -> torch.Tensor:
        """Per-class weight of the semantic pseudo-label: (n_k / max n)^(1 / dist_temp)."""
        return (self.pl_counts / self.pl_counts.max().clamp(min=1)) ** (1 / self.dist_temp)

    def training_step(self, batch: PairedBatch, batch_idx: int) -> torch.Tensor:
        """Queue the EMA network's labeled features, then FixMatch's step."""
        with torch.no_grad():
            self.enqueue(self.ema["model"].features(batch.labeled), batch.targets)
        return super().training_step(batch, batch_idx)

    def pseudo_targets(self, probs: torch.Tensor, out: StepOutputs) -> torch.Tensor:
        """The blended pseudo-label after the warm-up; counts the pseudo-labels into the distribution."""
        if self.global_step >= self.warmup_steps:
            semantic = self.similarity_logits(out.features_weak, self.prototypes()).softmax(1)
            weight = self.blend_weights()[probs.argmax(1)][:, None] if self.dist_aware else self.interp_alpha
            probs = (1 - weight) * probs + weight * semantic
        self.pl_window += torch.bincount(probs.argmax(1), minlength=self.num_classes)
        if (self.global_step + 1) % self.dist_every == 0:
            self.pl_counts.copy_(self.pl_window)
            self.pl_window.zero_()
        return probs

    def extra_loss(self, out: StepOutputs, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor | None:
        """daso_lambda x the cross-entropy of the strong views' similarity logits against q^sem."""
        if self.global_step < self.warmup_steps:
            return None
        prototypes = self.prototypes()
        with torch.no_grad():
            semantic = self.similarity_logits(out.features_weak, prototypes).softmax(1)
        losses = [-(semantic * self.similarity_logits(features, prototypes).log_softmax(1)).sum(1).mean()
                  for features in out.features_strong]
        return self.daso_lambda * torch.stack(losses).mean()
