"""SSLModule: the shared part of every self-supervised method (optimiser, schedule, backbone export)."""
from __future__ import annotations

import pytorch_lightning as pl
from torch import nn

from imbsemi.accel import prepare_model
from imbsemi.config import OptimConfig
from imbsemi.optim import sgd_with_schedule


class SSLModule(pl.LightningModule):
    """Base of the SSL methods. Subclasses build their head/loss and define the training step.

    Args:
        backbone: the network whose non-head tensors are exported.
        optim, epochs: SGD settings and the schedule length.
        compile_model: torch.compile the backbone's forward on CUDA.
    """

    def __init__(self, backbone: nn.Module, optim: OptimConfig, epochs: int, compile_model: bool = False) -> None:
        super().__init__()
        self.backbone = backbone
        self.optim, self.epochs, self.compile_model = optim, epochs, compile_model

    def on_fit_start(self) -> None:
        prepare_model(self.backbone, self.device, self.compile_model)

    def configure_optimizers(self) -> dict:
        return sgd_with_schedule(self.parameters(), self.optim, self.epochs)
