"""SimCLR (Chen et al., ICML 2020) from lightly's parts."""
from __future__ import annotations

import torch
from lightly.loss import NTXentLoss
from lightly.models.modules import SimCLRProjectionHead

from imbsemi.data.recipe import SIMCLR_VIEWS
from imbsemi.ssl.base import SSLModule, SSLTraining, headless


class SimCLRSSL(SSLModule):
    """z = g(f(x)) for both views; loss = NT-Xent: for each of the 2N views, -log of the softmax (at
    temperature T) of its positive pair's cosine similarity against the other 2N - 2 views.

    Shapes: views (N, C, H, W); z (N, out_dim). Under DDP the negatives of all ranks are gathered.

    Args:
        training: the backbone factory and SGD schedule (SSLTraining).
        out_dim, temperature: projection size and T.
    """

    views = SIMCLR_VIEWS
    min_batch_size = 2

    def __init__(self, training: SSLTraining, *, out_dim: int = 128, temperature: float = 0.5) -> None:
        super().__init__(headless(training.make_backbone(1)), training)
        if temperature <= 0:
            raise ValueError(f"temperature = {temperature}: must be > 0")
        width = self.backbone.feature_dim
        self.projection = SimCLRProjectionHead(width, width, out_dim)
        self.criterion = NTXentLoss(temperature=temperature, gather_distributed=True)

    def training_step(self, batch: tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor],
                      batch_idx: int) -> torch.Tensor:
        (first, second), _ = batch
        loss = self.criterion(self.projection(self.backbone.features(first)),
                              self.projection(self.backbone.features(second)))
        self.log("train/loss", loss, prog_bar=True)
        return loss
