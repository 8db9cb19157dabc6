"""Run folders, loggers and the one-line-per-epoch progress report."""
from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.loggers import CSVLogger

log = logging.getLogger("imbsemi")


def run_dir(out_dir: str, stage: str, name: str | None, config_stem: str, config_hash: str) -> Path:
    """``<out_dir>/<stage>/<name>``; the default name is ``<config file stem>-<hash[:8]>``."""
    return Path(out_dir) / stage / (name or f"{config_stem}-{config_hash[:8]}")


def make_loggers(folder: Path) -> list[CSVLogger]:
    """CSV metrics at ``<folder>/logs/metrics.csv`` (always on)."""
    return [CSVLogger(save_dir=str(folder), name="logs", version="")]


class EpochLine(pl.Callback):
    """Logs one line per finished epoch with its metrics (used when there is no progress bar)."""

    def __init__(self, stage: str) -> None:
        self.stage = stage

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        shown = " ".join(f"{key}={float(value):.4f}" for key, value in sorted(trainer.callback_metrics.items())
                         if value.numel() == 1)
        log.info("%s: epoch %d/%d %s", self.stage, trainer.current_epoch + 1, trainer.max_epochs, shown)
