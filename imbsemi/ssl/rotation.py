"""Rotation prediction (Gidaris et al., ICLR 2018), the SSP of the paper for CIFAR (spec §7.1)."""
from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F

from imbsemi.data.augment import balanced_quarters, rotate_quarters
from imbsemi.data.recipe import MOCO_V2_VIEWS
from imbsemi.ssl.base import SSLModule, SSLTraining


class RotationSSL(SSLModule):
    """Predict which of 4 rotations (0, 90, 180, 270 degrees) was applied; loss = CE over 4 classes.

    By default, as the paper's ``pretrain_rot.py``: each training image (padded crop + flip) is rotated
    once, with balanced random labels (each rotation N/4 times). ``all_rotations`` feeds every image
    in all 4 rotations (RotNet's own recipe; the batch grows to 4N), and ``crop_scale`` replaces the
    padded crop with a random resized crop of area in [crop_scale, 1] plus MoCo v2's colour jitter,
    so that a small training set cannot be memorised. Validation scores every image under all 4
    rotations, and the epoch with the best rotation accuracy is exported (spec §7.1).

    Args:
        training: the backbone factory (called with 4 classes: its ``fc`` is the rotation head)
            and SGD schedule.
        all_rotations: all 4 rotations of every image instead of one random rotation.
        crop_scale: the smallest crop area (fraction of the image), or None for the padded crop.
    """

    monitor = "val/rot_acc"

    def __init__(self, training: SSLTraining, *, all_rotations: bool = False, crop_scale: float | None = None) -> None:
        super().__init__(training.make_backbone(4), training)
        if crop_scale is not None:
            if not 0 < crop_scale <= 1:
                raise ValueError(f"crop_scale = {crop_scale}: must be in (0, 1], or null for the padded crop")
            self.views = replace(MOCO_V2_VIEWS, count=1, min_scale=crop_scale)
        self.all_rotations = all_rotations
        self._correct = self._seen = 0

    def training_step(self, batch: tuple[torch.Tensor | tuple[torch.Tensor], torch.Tensor],
                      batch_idx: int) -> torch.Tensor:
        images, _ = batch
        if self.views is not None:
            (images,) = images
        if self.all_rotations:
            quarters = torch.arange(4, device=images.device).repeat_interleave(len(images))
            images = images.repeat(4, 1, 1, 1)
        else:
            quarters = balanced_quarters(len(images), None, images.device)
        loss = F.cross_entropy(self.backbone(rotate_quarters(images, quarters)), quarters)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, _ = batch
        for k in range(4):
            preds = self.backbone(torch.rot90(images, k, dims=(2, 3))).argmax(1)
            self._correct += int((preds == k).sum())
            self._seen += len(images)

    def on_validation_epoch_end(self) -> None:
        self.log(self.monitor, self._correct / max(self._seen, 1), prog_bar=True, sync_dist=True)
        self._correct = self._seen = 0
