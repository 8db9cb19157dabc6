"""Rotation prediction (Gidaris et al., ICLR 2018), the SSP of the paper for CIFAR (spec §7.1)."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from imbsemi.config import OptimConfig
from imbsemi.data.augment import rotate_quarters
from imbsemi.ssl.base import SSLModule


class RotationSSL(SSLModule):
    """Predict which of 4 rotations (0, 90, 180, 270 degrees) was applied; loss = CE over 4 classes.

    Training batches (N, C, H, W) are rotated on their device with balanced random labels
    (each rotation N/4 times); validation scores every image under all 4 rotations, and the
    epoch with the best rotation accuracy is exported (as the original, spec §7.1).

    Args:
        make_backbone: num_classes -> network; called with 4 so its ``fc`` is the rotation head.
    """

    monitor = "val/rot_acc"

    def __init__(self, make_backbone: Callable[[int], nn.Module], optim: OptimConfig, epochs: int,
                 compile_model: bool = False, knn_every: int = 10, knn_k: int = 20, knn_t: float = 0.1) -> None:
        super().__init__(make_backbone(4), optim, epochs, compile_model, knn_every, knn_k, knn_t)
        self._correct = self._seen = 0

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, _ = batch
        quarters = torch.randperm(len(images), device=images.device) % 4
        loss = F.cross_entropy(self.backbone(rotate_quarters(images, quarters)), quarters)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        super().validation_step(batch, batch_idx)
        images, _ = batch
        for k in range(4):
            preds = self.backbone(torch.rot90(images, k, dims=(2, 3))).argmax(1)
            self._correct += int((preds == k).sum())
            self._seen += len(images)

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        self.log(self.monitor, self._correct / max(self._seen, 1), prog_bar=True, sync_dist=True)
        self._correct = self._seen = 0
