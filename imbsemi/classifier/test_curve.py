"""TestCurve: the test metrics along training, as a diagnostic next to validation-based selection."""
from __future__ import annotations

from typing import Any, Sequence

import pytorch_lightning as pl
import torch

from imbsemi.data.arrays import ImageArrays
from imbsemi.data.loader import eval_loader
from imbsemi.metrics import SUMMARY_METRICS, classification_report


class TestCurve(pl.Callback):
    """After every ``every``-th training epoch and every epoch from ``dense_from`` (0-indexed) on, logs
    ``test/<key>`` (acc, balanced_acc, macro_f1, g_mean, many, medium, few) of the current weights, evaluated
    in eval mode (train mode is restored). Never used to select a model: it shows what the paper's best-test-epoch
    protocol would report, and so the selection gap; the epochs after the last LR decay, where that
    best epoch lies, are all evaluated.

    Args:
        test: the test split; mean, std: its normalisation.
        train_counts, shot_thresholds: for the shot groups, as the module's own reports.
        batch_size: images per pass (None: the device's ``eval_batch_size``).
    """

    __test__ = False  # not a pytest test class

    def __init__(self, test: ImageArrays, mean: Sequence[float], std: Sequence[float], train_counts: Sequence[int],
                 shot_thresholds: Sequence[float] | None = None, every: int = 1, dense_from: int = 0,
                 batch_size: int | None = None) -> None:
        self.test, self.mean, self.std, self.batch_size = test, mean, std, batch_size
        self.every, self.dense_from = every, dense_from
        self.train_counts, self.shot_thresholds = list(train_counts), shot_thresholds
        self.history: list[dict[str, Any]] = []  # one {epoch, acc, balanced_acc, ...} per epoch

    def evaluates(self, epoch: int) -> bool:
        """Whether the 0-indexed ``epoch`` gets a point."""
        return epoch >= self.dense_from or (epoch + 1) % self.every == 0

    @torch.inference_mode()
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.evaluates(trainer.current_epoch):
            return
        was_training = pl_module.training
        pl_module.eval()
        try:
            parts = [(pl_module.predict(x), y) for x, y in
                     eval_loader(self.test, self.mean, self.std, pl_module.device, self.batch_size)]
        finally:
            pl_module.train(was_training)
        preds, targets = (torch.cat(p).cpu() for p in zip(*parts))
        report = classification_report(preds, targets, self.train_counts, self.shot_thresholds)
        values = {key: report[key] for key in SUMMARY_METRICS}
        for key, value in values.items():
            pl_module.log(f"test/{key}", value, sync_dist=True)
        self.history.append({"epoch": trainer.current_epoch, **values})

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history}  # kept in checkpoints: a resumed run has the whole curve

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = list(state["history"])

    def summary(self) -> dict[str, Any] | None:
        """The epoch with the best test balanced accuracy and its metrics (None before any epoch)."""
        return max(self.history, key=lambda row: row["balanced_acc"]) if self.history else None
