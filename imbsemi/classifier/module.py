"""ClassifierModule: a model, a registered loss and the SGD schedule, with per-class evaluation."""
from __future__ import annotations

from typing import Sequence

import pytorch_lightning as pl
import torch
from torch import nn

from imbsemi.accel import prepare_model
from imbsemi.config import OptimConfig
from imbsemi.data.arrays import NO_LABEL
from imbsemi.losses.base import ImbalancedLoss
from imbsemi.losses.logit_adjusted import posthoc_adjust
from imbsemi.losses.weighting import WeightSchedule
from imbsemi.metrics import SUMMARY_METRICS, classification_report
from imbsemi.optim import sgd_with_schedule


class ClassifierModule(pl.LightningModule):
    """Trains ``model`` with ``loss`` on (images, targets) batches; reports per-class metrics. The
    ``standard`` CLASSIFIER_METHODS entry; training methods of the imbalance literature subclass it and
    override ``training_loss`` (and declare the data they need: ``second_sampler``, ``uses_meta_set``).

    Args:
        model: a network returning logits (N, C).
        loss: a LOSSES instance, ``loss(logits, target)``.
        optim, epochs: SGD settings and the schedule length.
        train_counts: labeled training images per class (for many/medium/few groups).
        compile_model: torch.compile the model's forward on CUDA.
        weight_schedule: class weights per epoch (reweight, DRW); None: unweighted.
        posthoc_tau: evaluate argmax(z - tau log pi) (post-hoc logit adjustment) when > 0.
        freeze_backbone: train the head (``fc``) only, with every other parameter and the BatchNorm
            statistics frozen (cRT).
        shot_thresholds: (many_above, few_below) for the shot groups; None: automatic.
        select_from_epoch: the first 0-indexed epoch that model selection may choose; validation logs
            ``val/selection_score``: the ``selection_metric`` from that epoch on, -1 before it.
        selection_metric: the report's number that selects (a SUMMARY_METRICS name); ``monitor`` logs it.
    """

    selection_monitor = "val/selection_score"  # what the checkpoint callback maximises
    second_sampler: str | None = None  # a sampling rule: each training batch comes with a second batch drawn by it
    uses_meta_set = False  # whether the module takes ``meta_batches``, a class-balanced set drawn per step

    def __init__(self, model: nn.Module, loss: ImbalancedLoss, optim: OptimConfig, epochs: int,
                 train_counts: Sequence[int], compile_model: bool = False,
                 weight_schedule: WeightSchedule | None = None, posthoc_tau: float = 0.0,
                 freeze_backbone: bool = False, shot_thresholds: Sequence[float] | None = None,
                 select_from_epoch: int = 0, selection_metric: str = "balanced_acc") -> None:
        super().__init__()
        self.model, self.loss, self.compile_model = model, loss, compile_model
        self.optim, self.epochs, self.train_counts = optim, epochs, list(train_counts)
        self.weight_schedule, self.posthoc_tau, self.freeze_backbone = weight_schedule, posthoc_tau, freeze_backbone
        self.shot_thresholds, self.select_from_epoch = shot_thresholds, select_from_epoch
        self.selection_metric, self.monitor = selection_metric, f"val/{selection_metric}"
        if freeze_backbone:
            for name, parameter in model.named_parameters():
                parameter.requires_grad = name.startswith("fc.")
        self._outputs: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {"val": [], "test": []}
        self.test_report: dict | None = None
        self.loaded_epoch: int | None = None  # the 0-indexed epoch of the last checkpoint loaded into it

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.loaded_epoch = int(checkpoint["epoch"])

    def on_fit_start(self) -> None:
        prepare_model(self.model, self.device, self.compile_model)

    def on_train_batch_start(self, batch: object, batch_idx: int) -> None:
        if self.freeze_backbone:  # per batch, as Lightning restores train mode after each validation
            self.model.eval()  # BatchNorm keeps its statistics
            self.model.fc.train()

    def on_train_epoch_start(self) -> None:
        weights = self.weight_schedule.at(self.current_epoch) if self.weight_schedule else None
        self.loss.set_class_weight(None if weights is None else torch.as_tensor(weights, dtype=torch.float32))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        loss = self.training_loss(batch)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def training_loss(self, batch: tuple) -> torch.Tensor:
        """The loss of one training batch: (images, targets) or (images, targets, per-sample weights); with a
        ``second_sampler``, a pair (main batch, second batch)."""
        images, targets, *weights = batch
        return self.loss(self.model(images), targets, weights[0] if weights else None)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._collect("val", batch)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._collect("test", batch)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Predicted labels (N,): argmax of the logits, post-hoc adjusted when ``posthoc_tau`` > 0."""
        logits = self.model(images)
        if self.posthoc_tau:
            logits = posthoc_adjust(logits.float(), self.loss.class_counts, self.posthoc_tau)
        return logits.argmax(1)

    def _collect(self, split: str, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        images, targets = batch
        self._outputs[split].append((self.predict(images), targets))

    def _report(self, split: str) -> dict:
        """The report of the split's predictions; under DDP those of every rank's share, gathered (each
        rank then holds the whole split's report), the padding (target NO_LABEL) left out."""
        preds, targets = (torch.cat(parts) for parts in zip(*self._outputs[split]))
        self._outputs[split].clear()
        if self.trainer.world_size > 1:
            preds, targets = (self.all_gather(part).reshape(-1) for part in (preds, targets))
            kept = targets != NO_LABEL
            preds, targets = preds[kept], targets[kept]
        return classification_report(preds.cpu(), targets.cpu(), self.train_counts, self.shot_thresholds)

    def on_validation_epoch_end(self) -> None:
        report = self._report("val")
        for key in SUMMARY_METRICS:
            self.log(f"val/{key}", report[key], prog_bar=key == self.selection_metric, sync_dist=True)
        selectable = self.current_epoch >= self.select_from_epoch
        self.log(self.selection_monitor, report[self.selection_metric] if selectable else -1.0, sync_dist=True)

    def on_test_epoch_end(self) -> None:
        self.test_report = self._report("test")
        for key in SUMMARY_METRICS:  # the same on every rank
            self.log(f"test/{key}", self.test_report[key], sync_dist=True)

    def configure_optimizers(self) -> dict:
        return sgd_with_schedule(self.model.parameters(), self.optim, self.epochs)
