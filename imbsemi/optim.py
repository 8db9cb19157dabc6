"""SGD and the original code's learning-rate schedule, scaled to any number of epochs."""
from __future__ import annotations

import math
from typing import Iterable

import torch

from imbsemi.config import OptimConfig


def lr_factor(epoch: int, epochs: int, warmup_epochs: int, schedule: str = "step") -> float:
    """Multiplier of the base lr at 0-indexed ``epoch``.

    Linear warm-up (epoch + 1) / warmup_epochs first. ``step`` (spec §6.6): 1, then x0.01 from
    epoch round(0.8 E) and x1e-4 from round(0.9 E); with E = 200 and 5 warm-up epochs this is the
    original schedule. ``cosine``: (1 + cos(pi (e - W) / (E - W))) / 2 after W warm-up epochs.
    """
    if epoch < warmup_epochs:
        return (epoch + 1) / warmup_epochs
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * (epoch - warmup_epochs) / max(epochs - warmup_epochs, 1)))
    if epoch >= round(0.9 * epochs):
        return 1e-4
    if epoch >= round(0.8 * epochs):
        return 1e-2
    return 1.0


def last_decay_epoch(epochs: int) -> int:
    """The 0-indexed epoch of the last learning-rate decay: ``step``'s x1e-4 at round(0.9 E); for
    ``cosine`` the start of the last tenth, where the rate is below 2.5% of its peak. Capped at the last
    epoch, so a short run still has an epoch to select."""
    return min(round(0.9 * epochs), epochs - 1)


def sgd_with_schedule(params: Iterable[torch.nn.Parameter], optim: OptimConfig, epochs: int) -> dict:
    """Lightning ``configure_optimizers`` output: SGD (fused when the parameters are on CUDA) + the
    per-epoch schedule above."""
    params = [p for p in params if p.requires_grad]
    fused = all(p.is_cuda for p in params)
    optimizer = torch.optim.SGD(params, lr=optim.lr, momentum=optim.momentum, weight_decay=optim.weight_decay,
                                fused=fused or None)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda epoch: lr_factor(epoch, epochs, optim.warmup_epochs, optim.schedule))
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
