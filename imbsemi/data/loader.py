"""DeviceLoader: images stay uint8 on the training device; batches are gathered by index and
augmented in batch, with a seeded permutation per epoch, sharded across DDP ranks."""
from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np
import torch

from imbsemi.accel import channels_last
from imbsemi.data.arrays import ImageArrays

BatchTransform = Callable[[torch.Tensor, torch.Generator], Any]


class DeviceLoader:
    """Iterable of (transform(uint8 images (B, H, W, C)), int64 targets (B,)) batches.

    Args:
        arrays: the images to serve; copied to ``device`` once.
        batch_size: images per batch (per rank; capped at the shard size when ``shuffle``).
        transform: uint8 batch + generator -> model input (e.g. CropFlipTransform, AugmentedViews).
        shuffle: training mode: a new seeded permutation each epoch and full batches only
            (fixed shapes), each rank taking every ``world_size``-th index of the same permutation.
        seed: seeds the per-epoch permutations and augmentation.
        device: where images live and batches are produced (channels_last on CUDA).
        rank, world_size: this process's shard under DDP.
        sample_weights: per-image weights; each epoch then draws len(arrays) images with
            replacement in proportion to them (re-sampling rules) instead of a permutation.
        loss_weights: per-image loss weights; training batches then are (inputs, targets, weights).
        soft_targets: (N, C) target distributions served in place of the integer targets.
    """

    def __init__(self, arrays: ImageArrays, batch_size: int, transform: BatchTransform, *, shuffle: bool = False,
                 seed: int = 0, device: torch.device | str = "cpu", rank: int = 0, world_size: int = 1,
                 sample_weights: np.ndarray | None = None, loss_weights: np.ndarray | None = None,
                 soft_targets: np.ndarray | None = None) -> None:
        self.device = torch.device(device)
        # a read-only (memory-mapped) split is copied: torch cannot share non-writable memory safely
        self.images = torch.from_numpy(np.require(arrays.images, requirements=("C", "W"))).to(self.device)
        targets = arrays.targets if soft_targets is None else np.ascontiguousarray(soft_targets, dtype=np.float32)
        self.targets = torch.from_numpy(targets).to(self.device)
        self.transform, self.shuffle, self.seed = transform, shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.sample_weights = None if sample_weights is None else torch.as_tensor(
            sample_weights, dtype=torch.float64, device=self.device)
        self.loss_weights = None if loss_weights is None else torch.as_tensor(
            loss_weights, dtype=torch.float32, device=self.device)
        self.layout = channels_last if self.device.type == "cuda" else (lambda batch: batch)
        shard = len(arrays) // world_size if shuffle else len(arrays)
        self.batch_size = min(batch_size, shard) if shuffle else batch_size
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.images)
        return (n // self.world_size) // self.batch_size if self.shuffle else -(-n // self.batch_size)

    def _generator(self, stream: int) -> torch.Generator:
        state = np.random.SeedSequence([self.seed, self.epoch, stream]).generate_state(1)[0]
        return torch.Generator(device=self.device).manual_seed(int(state))

    def __iter__(self) -> Iterator[tuple[Any, torch.Tensor]]:
        if not self.shuffle:
            for start in range(0, len(self.images), self.batch_size):
                stop = start + self.batch_size
                yield self.layout(self.transform(self.images[start:stop], None)), self.targets[start:stop]
            return
        if self.sample_weights is None:
            order = torch.randperm(len(self.images), device=self.device, generator=self._generator(0))
        else:
            order = torch.multinomial(self.sample_weights, len(self.images), replacement=True,
                                      generator=self._generator(0))
        augment = self._generator(1 + self.rank)  # same order on every rank, own augmentation
        self.epoch += 1
        shard = order[self.rank::self.world_size][: len(self) * self.batch_size]
        for batch in shard.view(-1, self.batch_size):
            inputs = self.layout(self.transform(self.images[batch], augment))
            if self.loss_weights is None:
                yield inputs, self.targets[batch]
            else:
                yield inputs, self.targets[batch], self.loss_weights[batch]
