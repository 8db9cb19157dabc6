"""SGD and the original code's learning-rate schedule, scaled to any number of epochs."""
from __future__ import annotations

from typing import Iterable

import torch

from imbsemi.config import OptimConfig


def lr_factor(epoch: int, epochs: int, warmup_epochs: int) -> float:
    """Multiplier of the base lr at 0-indexed ``epoch`` (spec §6.6, decays at 80% and 90%).

    Linear warm-up (epoch + 1) / warmup_epochs, then 1; x0.01 from epoch round(0.8 E) and
    x1e-4 from round(0.9 E). With E = 200 and 5 warm-up epochs this is the original schedule.
    """
    if epoch < warmup_epochs:
        return (epoch + 1) / warmup_epochs
    if epoch >= round(0.9 * epochs):
        return 1e-4
    if epoch >= round(0.8 * epochs):
        return 1e-2
    return 1.0


def sgd_with_schedule(params: Iterable[torch.nn.Parameter], optim: OptimConfig, epochs: int) -> dict:
    """Lightning ``configure_optimizers`` output: SGD (fused when the parameters are on CUDA) + the
    per-epoch schedule above."""
    params = list(params)
    fused = all(p.is_cuda for p in params)
    optimizer = torch.optim.SGD(params, lr=optim.lr, momentum=optim.momentum, weight_decay=optim.weight_decay,
                                fused=fused or None)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda epoch: lr_factor(epoch, epochs, optim.warmup_epochs))
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
