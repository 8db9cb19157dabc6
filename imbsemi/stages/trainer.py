"""The Lightning Trainer of a stage run: its folder, logs, checkpoints (best and last) and resuming."""
from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Sequence

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import MisconfigurationException
import torch

from imbsemi.accel import trainer_defaults
from imbsemi.config import CommonConfig
from imbsemi.errors import ConfigError
from imbsemi.resume import AtomicCheckpointIO, CheckpointRoom, ResumeState, checkpoint_epoch, last_checkpoint
from imbsemi.tracking import EpochLine, Tracker

log = logging.getLogger("imbsemi")


def resume_from(folder: Path, stage: str) -> Path | None:
    """The last checkpoint of an unfinished earlier run of this config in ``folder`` (logged), else None."""
    path = last_checkpoint(folder)
    if path is not None:
        log.info("%s: resuming the unfinished run in %s from %s", stage, folder, path)
    return path


def make_trainer(config: CommonConfig, folder: Path, stage: str, epochs: int, monitor: str | None,
                 callbacks: Sequence[pl.Callback] = (), tracker: Tracker | None = None,
                 validate: bool = True) -> pl.Trainer:
    """A Lightning Trainer writing to ``folder``: CSV logs (and the ``tracker``'s wandb run under its
    prefix), last + best (max ``monitor``) checkpoints;
    with no ``monitor`` the "best" checkpoint is the last epoch's. Without a validation split
    (``validate`` false) the validation loop is off. Device, precision and progress display come from
    ``accel.trainer_defaults``."""
    logging.getLogger("pytorch_lightning.utilities.rank_zero").setLevel(logging.WARNING)  # tips, device info
    warnings.filterwarnings("ignore", ".*LeafSpec.*")
    # contrastive SSL methods have no validation_step: their kNN monitor is a callback
    warnings.filterwarnings("ignore", ".*val_dataloader` but have no `validation_step.*")
    # the first ModelCheckpoint is the selection ("best"); the second keeps every epoch's end for resuming
    warnings.filterwarnings("ignore", ".*configured with multiple `ModelCheckpoint` callbacks.*")
    # litdata's StreamingDataset has a length and splits its chunks over workers and ranks itself
    warnings.filterwarnings("ignore", ".*Your `IterableDataset` has `__len__` defined.*")
    checkpoints = folder / "checkpoints"
    best = pl.callbacks.ModelCheckpoint(dirpath=checkpoints, filename="best", monitor=monitor,
                                        mode="max", enable_version_counter=False)
    # every epoch's end, for resuming (ModelCheckpoint's save_last only follows the "best" saves)
    last = pl.callbacks.ModelCheckpoint(dirpath=checkpoints, filename="last", monitor=None,
                                        enable_version_counter=False)
    options = trainer_defaults(config.trainer)
    if not validate:
        options["limit_val_batches"] = 0
    progress = [] if options["enable_progress_bar"] else [EpochLine(stage)]
    resume = last_checkpoint(folder)
    # a run that stopped before its first checkpoint starts again: its CSV log is replaced
    warnings.filterwarnings("ignore", ".*Experiment logs directory .* exists and is not empty.*")
    if resume is not None:  # a resumed run finds its own checkpoints, and keeps them
        warnings.filterwarnings("ignore", ".*Checkpoint directory .* exists and is not empty.*")
    loggers = (tracker or Tracker(None)).loggers(folder, None if resume is None else checkpoint_epoch(resume))
    try:
        return pl.Trainer(max_epochs=epochs, default_root_dir=folder, logger=loggers, plugins=[AtomicCheckpointIO()],
                          callbacks=[*callbacks, CheckpointRoom(checkpoints), ResumeState(), best, last, *progress],
                          **options)
    except MisconfigurationException as err:
        raise ConfigError(f"trainer: {err}") from err


def best_score(trainer: pl.Trainer) -> float | None:
    """The monitored validation metric of the selected checkpoint (None without a validation split)."""
    score = trainer.checkpoint_callback.best_model_score
    return None if score is None else float(score)


def restore_best(module: pl.LightningModule, trainer: pl.Trainer) -> str:
    """Load the best (by the monitored validation metric) weights into ``module``; return their path."""
    path = trainer.checkpoint_callback.best_model_path
    module.load_state_dict(torch.load(path, map_location="cpu", weights_only=False)["state_dict"])
    return path
