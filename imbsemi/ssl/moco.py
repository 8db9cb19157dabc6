"""MoCo v2 (He et al., CVPR 2020; Chen et al., 2020) from lightly's parts."""
from __future__ import annotations

import copy
from typing import Any

import torch
from lightly.loss import NTXentLoss
from lightly.models.modules import MoCoProjectionHead
from lightly.models.utils import batch_shuffle, batch_unshuffle, deactivate_requires_grad, update_momentum
from lightly.utils.scheduler import cosine_schedule

from imbsemi.data.recipe import MOCO_V2_VIEWS
from imbsemi.ssl.base import SSLModule, SSLTraining, headless

BANK_KEY = "moco_memory_bank"


class MoCoV2SSL(SSLModule):
    """Query q = g(f(x0)), key k = g_m(f_m(x1)) from momentum copies; loss = InfoNCE of (q, k) against
    a memory bank of past keys: -log exp(q.k/T) / (exp(q.k/T) + sum_bank exp(q.n/T)).

    Shapes: views (N, C, H, W); q, k (N, out_dim); bank (memory_bank_size, out_dim). The momentum
    m follows a cosine schedule from ``momentum`` to 1. Keys are batch-shuffled (across ranks under
    DDP) so BatchNorm cannot use intra-batch statistics; under DDP the bank is filled with the keys
    of all ranks, so every rank holds the same bank; checkpoints carry it, so a resumed run keeps it.

    Args:
        training: the backbone factory and SGD schedule (SSLTraining).
        out_dim, memory_bank_size, temperature, momentum: MoCo's d, K, T and m.
    """

    views = MOCO_V2_VIEWS
    min_batch_size = 2

    def __init__(self, training: SSLTraining, *, out_dim: int = 128, memory_bank_size: int = 4096,
                 temperature: float = 0.2, momentum: float = 0.99) -> None:
        super().__init__(headless(training.make_backbone(1)), training)
        if memory_bank_size < 1 or temperature <= 0 or not 0 <= momentum <= 1:
            raise ValueError(f"memory_bank_size = {memory_bank_size}, temperature = {temperature}, momentum = "
                             f"{momentum}: need memory_bank_size >= 1, temperature > 0, 0 <= momentum <= 1")
        width = self.backbone.feature_dim
        self.projection = MoCoProjectionHead(width, width, out_dim)
        self.backbone_momentum = copy.deepcopy(self.backbone)
        self.projection_momentum = copy.deepcopy(self.projection)
        deactivate_requires_grad(self.backbone_momentum)
        deactivate_requires_grad(self.projection_momentum)
        self.momentum = momentum
        self.criterion = NTXentLoss(temperature=temperature, memory_bank_size=(memory_bank_size, out_dim),
                                    gather_distributed=True)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # lightly registers the bank as non-persistent buffers, so the state_dict leaves it out
        bank = self.criterion.memory_bank
        checkpoint[BANK_KEY] = {"bank": bank.bank.detach().cpu(), "bank_ptr": bank.bank_ptr.detach().cpu()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        bank = self.criterion.memory_bank
        saved = checkpoint[BANK_KEY]
        bank.bank.copy_(saved["bank"])
        bank.bank_ptr.copy_(saved["bank_ptr"])

    def training_step(self, batch: tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor],
                      batch_idx: int) -> torch.Tensor:
        (query_view, key_view), _ = batch
        m = cosine_schedule(self.global_step, max(self.trainer.estimated_stepping_batches, 1), self.momentum, 1.0)
        update_momentum(self.backbone, self.backbone_momentum, m)
        update_momentum(self.projection, self.projection_momentum, m)
        query = self.projection(self.backbone.features(query_view))
        distributed = self.trainer.world_size > 1
        with torch.no_grad():
            shuffled, order = batch_shuffle(key_view, distributed=distributed)
            key = self.projection_momentum(self.backbone_momentum.features(shuffled))
            key = batch_unshuffle(key, order, distributed=distributed)
        loss = self.criterion(query, key)
        self.log("train/loss", loss, prog_bar=True)
        return loss
