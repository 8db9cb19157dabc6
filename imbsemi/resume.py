"""What makes a run resumable bit-exactly on CPU: checkpoints written atomically (a kill never leaves a
half-written ``last.ckpt``) and, in every checkpoint, the random states and the device loader's epoch,
so that the epochs after a resume draw the same batches and augmentations as an uninterrupted run.

Lightning itself restores the model, optimizer, LR scheduler, AMP scaler, loop counters, callback
states (model selection, test curve) and the module's own extras (e.g. the MoCo queue).
"""
from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.plugins.io import TorchCheckpointIO

from imbsemi.data.loader import DeviceLoader, ZippedLoader
from imbsemi.io import atomic_write, require_free_space, save_torch


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoints through a temporary file renamed over the target."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        save_torch(checkpoint, path)


class CheckpointRoom(pl.Callback):
    """Before the first step, checks that ``folder`` has room for the run's checkpoints: "best", "last"
    and a temporary copy while one is replaced, each estimated as twice the module's state (weights and
    one optimizer buffer per weight, as SGD momentum). Each save checks its exact size again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        state = sum(t.numel() * t.element_size() for t in pl_module.state_dict().values())
        kept = sum(path.stat().st_size for path in self.folder.glob("*.ckpt"))
        self.folder.mkdir(parents=True, exist_ok=True)
        require_free_space(self.folder, 3 * 2 * state - kept, "the run's checkpoints (best, last and a temporary "
                                                            "copy, estimated from the model's size)")


class ResumeState(pl.Callback):
    """Keeps the global random states (torch, CUDA, numpy, random) in each checkpoint and restores them
    with it; sets the device loader's epoch to the trainer's before every epoch, since its batches and
    augmentations are a function of (seed, epoch) (Lightning does it for the classic loader's sampler)."""

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        loader = trainer.train_dataloader
        if isinstance(loader, (DeviceLoader, ZippedLoader)):
            loader.epoch = trainer.current_epoch

    def state_dict(self) -> dict[str, Any]:
        # tensors, numbers and tuples only: Lightning reads checkpoints with torch.load(weights_only=True)
        kind, keys, position, has_gauss, gauss = np.random.get_state()
        return {"torch": torch.get_rng_state(), "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), position,
                                                          has_gauss, gauss),
                "python": random.getstate(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        kind, keys, position, has_gauss, gauss = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
        random.setstate(state["python"])
        if state["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


class ResumedCSVLogger(CSVLogger):
    """Lightning's CSVLogger (``<save_dir>/logs/metrics.csv``), which deletes an earlier metrics.csv,
    except that a run resumed from a checkpoint taken at the end of epoch ``kept_epoch`` keeps the rows
    of the epochs up to that one and appends to them (rows of the epoch cut short are dropped: it is
    trained again)."""

    def __init__(self, save_dir: Path, kept_epoch: int | None) -> None:
        super().__init__(save_dir=str(save_dir), name="logs", version="")
        self.kept_epoch = kept_epoch

    @property
    def experiment(self) -> Any:
        if self._experiment is not None or self.kept_epoch is None:
            return super().experiment
        path = Path(self.log_dir) / "metrics.csv"
        fields, rows = _read_rows(path)
        kept = [row for row in rows if row.get("epoch") and float(row["epoch"]) <= self.kept_epoch]
        writer = super().experiment  # deletes metrics.csv
        if fields:
            with atomic_write(path, "w") as handle:
                table = csv.DictWriter(handle, fieldnames=fields)
                table.writeheader()
                table.writerows(kept)
            writer.metrics_keys = list(fields)
        return writer


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    if not path.is_file():
        return [], []
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def checkpoint_epoch(path: Path) -> int:
    """The epoch (0-based) at whose end the Lightning checkpoint ``path`` was taken."""
    return int(torch.load(path, map_location="cpu", mmap=True, weights_only=True)["epoch"])


def last_checkpoint(folder: Path) -> Path | None:
    """``folder/checkpoints/last.ckpt`` when an earlier, unfinished run of this config left one."""
    path = folder / "checkpoints" / "last.ckpt"
    return path if path.is_file() else None
