"""What makes a run resumable bit-exactly on CPU: checkpoints written atomically (a kill never leaves a
half-written ``last.ckpt``) and, in every checkpoint, the random states and the device loader's epoch,
so that the epochs after a resume draw the same batches and augmentations as an uninterrupted run.

Lightning itself restores the model, optimizer, LR scheduler, AMP scaler, loop counters, callback
states (model selection, test curve) and the module's own extras (e.g. the MoCo queue).
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from imbsemi.data.loader import DeviceLoader
from imbsemi.io import atomic_write


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoints through a temporary file renamed over the target."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        with atomic_write(Path(path)) as handle:
            torch.save(checkpoint, handle)


class ResumeState(pl.Callback):
    """Keeps the global random states (torch, CUDA, numpy, random) in each checkpoint and restores them
    with it; sets the device loader's epoch to the trainer's before every epoch, since its batches
    and augmentations are a function of (seed, epoch)."""

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        loader = trainer.train_dataloader
        if isinstance(loader, DeviceLoader):
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


def last_checkpoint(folder: Path) -> Path | None:
    """``folder/checkpoints/last.ckpt`` when an earlier, unfinished run of this config left one."""
    path = folder / "checkpoints" / "last.ckpt"
    return path if path.is_file() else None
