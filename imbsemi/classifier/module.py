"""ClassifierModule: a model, a registered loss and the SGD schedule, with per-class evaluation."""
from __future__ import annotations

from typing import Sequence

import pytorch_lightning as pl
import torch
from torch import nn

from imbsemi.accel import prepare_model
from imbsemi.config import OptimConfig
from imbsemi.metrics import classification_report
from imbsemi.optim import sgd_with_schedule


class ClassifierModule(pl.LightningModule):
    """Trains ``model`` with ``loss`` on (images, targets) batches; reports per-class metrics.

    Args:
        model: a network returning logits (N, C).
        loss: a LOSSES instance, ``loss(logits, target)``.
        optim, epochs: SGD settings and the schedule length.
        train_counts: labeled training images per class (for many/medium/few groups).
        compile_model: torch.compile the model's forward on CUDA.
    """

    monitor = "val/balanced_acc"  # model selection on the validation split

    def __init__(self, model: nn.Module, loss: nn.Module, optim: OptimConfig, epochs: int,
                 train_counts: Sequence[int], compile_model: bool = False) -> None:
        super().__init__()
        self.model, self.loss, self.compile_model = model, loss, compile_model
        self.optim, self.epochs, self.train_counts = optim, epochs, list(train_counts)
        self._outputs: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {"val": [], "test": []}
        self.test_report: dict | None = None

    def on_fit_start(self) -> None:
        prepare_model(self.model, self.device, self.compile_model)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, targets = batch
        loss = self.loss(self.model(images), targets)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._collect("val", batch)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._collect("test", batch)

    def _collect(self, split: str, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        images, targets = batch
        self._outputs[split].append((self.model(images).argmax(1), targets))

    def _report(self, split: str) -> dict:
        preds, targets = (torch.cat(parts) for parts in zip(*self._outputs[split]))
        self._outputs[split].clear()
        return classification_report(preds.cpu(), targets.cpu(), self.train_counts)

    def on_validation_epoch_end(self) -> None:
        report = self._report("val")
        self.log("val/acc", report["acc"])
        self.log(self.monitor, report["balanced_acc"], prog_bar=True)

    def on_test_epoch_end(self) -> None:
        self.test_report = self._report("test")
        self.log("test/acc", self.test_report["acc"])
        self.log("test/balanced_acc", self.test_report["balanced_acc"])

    def configure_optimizers(self) -> dict:
        return sgd_with_schedule(self.parameters(), self.optim, self.epochs)
